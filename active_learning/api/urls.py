from django.urls import path

from active_learning.api import views

project = "projects/<id:project_id>/"
urlpatterns = [
    path(project + "learning/", views.LearningStatusApi.as_view(), name="learning-status"),
    path(project + "learning/strategy/", views.StrategyApi.as_view(), name="learning-strategy"),
    path(project + "learning/strategy/history/", views.StrategyHistoryApi.as_view(), name="learning-strategy-history"),
    path(project + "learning/runs/", views.LearningRunListApi.as_view(), name="learning-run-list"),
    path(project + "learning/runs/<id:run_id>/", views.LearningRunDetailApi.as_view(), name="learning-run-detail"),
    path(project + "learning/train/", views.TrainApi.as_view(), name="learning-train"),
    path(project + "learning/rank/", views.RankApi.as_view(), name="learning-rank"),
    path(project + "learning/simulations/", views.SimulationApi.as_view(), name="learning-simulations"),
    path(project + "learning/model-versions/", views.ModelVersionListApi.as_view(), name="learning-model-versions"),
    path(
        project + "learning/model-versions/<str:version>/download/",
        views.ModelDownloadApi.as_view(),
        name="learning-model-download",
    ),
    path(
        project + "learning/model-versions/<str:version>/predictions/",
        views.PredictionExportApi.as_view(),
        name="learning-model-predictions",
    ),
    path(project + "learning/drift-alerts/", views.DriftAlertListApi.as_view(), name="learning-drift-alerts"),
    path(project + "learning/label-issues/", views.LabelIssueListApi.as_view(), name="learning-label-issues"),
    path(project + "learning/novel-items/", views.NovelItemListApi.as_view(), name="learning-novel-items"),
    path(project + "learning/map/", views.EmbeddingMapApi.as_view(), name="learning-map"),
]
