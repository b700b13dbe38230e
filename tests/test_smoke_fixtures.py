def test_owner_sees_dashboard_with_real_counts(owner, teammate, client_for):
    response = client_for(owner).get("/")
    assert response.status_code == 200
    assert b"Acme" in response.content
    assert response.context["counts"].members == 2
