from django.urls import path

from telephony_app import views

urlpatterns = [
    path("", views.call_list, name="calls-call-list"),
    path("<uuid:code>/", views.call_detail, name="calls-call-detail"),
]
