from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from votes.moderation import MODERATORS, moderators_group


class Command(BaseCommand):
    help = f"Put an existing user in the '{MODERATORS}' group: they can use /moderation/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: object, username: str, **options: object) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"no user named {username!r}; create one first (manage.py createsuperuser "
                "or the admin)"
            )
        user.groups.add(moderators_group())
        self.stdout.write(f"{username} is a moderator: /moderation/")
