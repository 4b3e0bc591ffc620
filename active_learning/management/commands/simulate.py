from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from active_learning.core.registry import STRATEGY_NAMES


class Command(BaseCommand):
    help = (
        "Replay active-learning strategies on an already-labeled dataset (a CSV/Parquet with a label column, an "
        "image folder with one sub-folder per class, or a bundled scikit-learn set) and write learning curves "
        "as JSON and PNG."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--table", help="CSV or Parquet file (needs --label-column)")
        source.add_argument("--images", help="folder with one sub-folder of images per class")
        source.add_argument("--dataset", choices=["digits", "wine", "breast_cancer"], help="bundled, no download")
        parser.add_argument("--label-column", help="the label column of --table")
        parser.add_argument(
            "--strategies",
            default="adaptive,random,margin",
            help="comma-separated: " + ", ".join(name for name in STRATEGY_NAMES if name != "mix"),
        )
        parser.add_argument("--budget", type=int, default=200, help="labels in all")
        parser.add_argument("--batch-size", type=int, default=10, help="labels between refits")
        parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1, each with its own split")
        parser.add_argument("--test-size", type=float, default=0.3)
        parser.add_argument("--image-size", type=int, default=32)
        parser.add_argument(
            "--fast-classifier",
            action="store_true",
            help="logistic regression only, uncalibrated (no per-round model selection)",
        )
        parser.add_argument("--out", default="simulation", help="output prefix: writes PREFIX.json and PREFIX.png")

    def handle(self, *args, **options):
        from active_learning.core import simulation
        from active_learning.core.classifiers import ProbabilisticClassifier

        try:
            if options["table"]:
                if not options["label_column"]:
                    raise CommandError("--table needs --label-column")
                X, y, _ = simulation.load_table(options["table"], options["label_column"])
                kind = "tabular"
            elif options["images"]:
                X, y = simulation.load_image_folder(options["images"])
                kind = "image"
            else:
                X, y, kind = simulation.load_bundled(options["dataset"])
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        names = [s.strip() for s in options["strategies"].split(",") if s.strip()]
        classifier = (
            ProbabilisticClassifier(candidates=("logistic",), calibrate=False) if options["fast_classifier"] else None
        )
        try:
            results = simulation.simulate(
                X,
                y,
                names,
                data_kind=kind,
                budget=options["budget"],
                batch_size=options["batch_size"],
                seeds=range(options["seeds"]),
                test_size=options["test_size"],
                classifier=classifier,
                image_size=options["image_size"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        prefix = Path(options["out"])
        simulation.write_json(results, prefix.with_suffix(".json"))
        simulation.plot_curves(results, prefix.with_suffix(".png"))
        self.stdout.write(f"{'strategy':<18} {'AULC':>12} {'labels to 95%':>14} {'final acc':>10}")
        for name, entry in results["strategies"].items():
            s = entry["summary"]
            reach = "-" if s["labels_to_95_median"] is None else f"{s['labels_to_95_median']:.0f}"
            self.stdout.write(
                f"{name:<18} {s['aulc_mean']:>6.1f} ± {s['aulc_std']:<4.1f} {reach:>14} "
                f"{s['final_accuracy_mean']:>10.3f}"
            )
        self.stdout.write(f"Wrote {prefix.with_suffix('.json')} and {prefix.with_suffix('.png')}")
