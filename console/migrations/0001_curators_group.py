from django.contrib.auth.management import create_permissions
from django.db import migrations

CURATORS = "Curators"
# (app_label, model, actions): curators inspect, correct and prune memories and their links.
GRANTS = [("memories", "memory", ("view", "change", "delete")), ("graph", "link", ("view", "change", "delete"))]


def create_curators(apps, schema_editor):
    # On a fresh database post_migrate (which creates permissions) has not run yet.
    for label in {app_label for app_label, _, _ in GRANTS}:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=CURATORS)
    for app_label, model, actions in GRANTS:
        for action in actions:
            permission = Permission.objects.using(schema_editor.connection.alias).get(
                content_type__app_label=app_label, codename=f"{action}_{model}"
            )
            group.permissions.add(permission)


def delete_curators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=CURATORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("memories", "0001_initial"),
        ("graph", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_curators, delete_curators)]
