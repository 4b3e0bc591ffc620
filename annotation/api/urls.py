from django.urls import path

from annotation.api import insights, io, labeling, views

project = "projects/<int:project_id>/"
urlpatterns = [
    path("projects/", views.ProjectListApi.as_view(), name="project-list"),
    path(project, views.ProjectDetailApi.as_view(), name="project-detail"),
    path(project + "members/", views.MembershipListApi.as_view(), name="member-list"),
    path(project + "members/<int:user_id>/", views.MembershipDetailApi.as_view(), name="member-detail"),
    path(project + "invitations/", views.InvitationListApi.as_view(), name="invitation-list"),
    path(project + "invitations/<int:invitation_id>/", views.InvitationDetailApi.as_view(), name="invitation-detail"),
    path("invitations/accept/", views.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path(project + "schema/", views.SchemaApi.as_view(), name="schema"),
    path(project + "schema/changes/", views.SchemaChangeListApi.as_view(), name="schema-change-list"),
    path(project + "labels/", views.LabelListApi.as_view(), name="label-list"),
    path(project + "items/", views.ItemListApi.as_view(), name="item-list"),
    path(project + "items/<int:item_id>/", views.ItemDetailApi.as_view(), name="item-detail"),
    path(project + "items/<int:item_id>/image/", views.ItemImageApi.as_view(), name="item-image"),
    path(project + "items/<int:item_id>/thumbnail/", views.ItemThumbnailApi.as_view(), name="item-thumbnail"),
    path(project + "queue/next/", labeling.QueueNextApi.as_view(), name="queue-next"),
    path(project + "items/<int:item_id>/lease/", labeling.LeaseRenewApi.as_view(), name="lease-renew"),
    path(project + "items/<int:item_id>/skip/", labeling.ItemSkipApi.as_view(), name="item-skip"),
    path(project + "items/<int:item_id>/draft/", labeling.ItemDraftApi.as_view(), name="item-draft"),
    path(project + "items/<int:item_id>/annotations/", labeling.ItemAnnotationsApi.as_view(), name="item-annotations"),
    path(project + "items/<int:item_id>/history/", labeling.ItemHistoryApi.as_view(), name="item-history"),
    path(project + "items/<int:item_id>/review/", labeling.ItemReviewApi.as_view(), name="item-review"),
    path(project + "annotations/", labeling.AnnotationSubmitApi.as_view(), name="annotation-submit"),
    path(project + "annotations/undo/", labeling.AnnotationUndoApi.as_view(), name="annotation-undo"),
    path(
        project + "annotations/<int:annotation_id>/", labeling.AnnotationDetailApi.as_view(), name="annotation-detail"
    ),
    path(project + "review/queue/", labeling.ReviewQueueApi.as_view(), name="review-queue"),
    path(project + "progress/", labeling.ProgressApi.as_view(), name="progress"),
    path(project + "agreement/", labeling.AgreementApi.as_view(), name="agreement"),
    path(project + "imports/", io.ImportListApi.as_view(), name="import-list"),
    path(project + "imports/preview/", io.TablePreviewApi.as_view(), name="import-preview"),
    path(project + "imports/<int:job_id>/", io.ImportDetailApi.as_view(), name="import-detail"),
    path(project + "exports/", io.ExportListApi.as_view(), name="export-list"),
    path(project + "exports/<int:job_id>/", io.ExportDetailApi.as_view(), name="export-detail"),
    path(project + "exports/<int:job_id>/download/", io.ExportDownloadApi.as_view(), name="export-download"),
    path("projects/import-archive/", io.ArchiveImportApi.as_view(), name="project-import-archive"),
    path(project + "insights/labels-over-time/", insights.LabelsOverTimeApi.as_view(), name="labels-over-time"),
]
