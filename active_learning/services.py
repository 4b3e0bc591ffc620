"""Active learning inside Loupe: training, ranking and simulation runs, strategy settings (work in progress)."""


def ranking_request_if_due(*, project_id: int) -> None:
    """Queue a ranking run when the project has a full batch of labels the current ranking has not seen."""
