"""The leaf every app may import and that imports no app: the error family and its one body,
tenancy (the principal, the tenant header, the one name rule), the strict JSON rules, and the
few constants and database helpers more than one app needs. The import contract in
pyproject.toml ([tool.importlinter]) keeps it a leaf."""
