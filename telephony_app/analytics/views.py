"""The analytics portal page (/analytics/: charts over 7, 30 or 90 days, per agent and per campaign)
and its CSV export; both read the rollups only (telephony_app/analytics/selectors.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from telephony_app.analytics import charts, selectors
from telephony_app.analytics.document import analytics_csv
from telephony_app.analytics.forms import AnalyticsFilterForm
from voiceplatform.models import Membership
from voiceplatform.portal import portal_view


@require_GET
@portal_view()
def analytics_dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = AnalyticsFilterForm(request.GET, tenant=membership.tenant)
    context: dict[str, object] = {"form": form}
    if form.is_valid():
        analytics = selectors.analytics_for(tenant=membership.tenant, **form.filters())
        context |= {
            "analytics": analytics,
            "charts": charts.analytics_charts(analytics),
            "latencies": [
                (label, analytics.total.latency(column, 0.5), analytics.total.latency(column, 0.9))
                for column, label in selectors.LATENCY_METRICS.items()
            ],
            "export_query": request.GET.urlencode(),
        }
    return render(request, "telephony_app/analytics.html", context, status=200 if form.is_valid() else 400)


@require_GET
@portal_view()
def analytics_export(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = AnalyticsFilterForm(request.GET, tenant=membership.tenant)
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        return HttpResponse(f"Bad filter: {problems}\n", status=400, content_type="text/plain; charset=utf-8")
    analytics = selectors.analytics_for(tenant=membership.tenant, **form.filters())
    response = HttpResponse(analytics_csv(analytics), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="analytics-{analytics.start}-{analytics.end}.csv"'
    return response
