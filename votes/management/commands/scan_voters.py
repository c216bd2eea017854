from django.core.management.base import BaseCommand

from votes import scanning


class Command(BaseCommand):
    help = (
        "Run the voter anomaly detection now, in the foreground (the same work as the periodic "
        "task): scores every voter with recent votes, flags or quarantines them with evidence."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = scanning.scan()
        self.stdout.write(
            f"scanned {result.scanned} voters: {result.flagged} flagged, "
            f"{result.quarantined} quarantined"
        )
