from django.core.management.base import BaseCommand, CommandError

from votes import audit


class Command(BaseCommand):
    help = (
        "Check the hash chain of the moderation audit log. Exits non-zero and names the first "
        "broken entry if any entry was changed, removed or reordered."
    )

    def handle(self, *args: object, **options: object) -> None:
        verdict = audit.verify()
        if not verdict.ok:
            raise CommandError(
                f"audit log broken at entry #{verdict.broken_at}: {verdict.problem} "
                f"({verdict.entries} entries before it are intact)"
            )
        self.stdout.write(f"audit log intact: {verdict.entries} entries, head {verdict.head}")
