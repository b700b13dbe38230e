from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from voiceplatform.models import Membership, ProviderCredential, Role, Tenant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.LazyAttribute(lambda u: u.username)
    password = factory.django.Password("correct horse battery staple")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")
    timezone = "Europe/Paris"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR


class ProviderCredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderCredential
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    provider = "openai"

    @factory.post_generation
    def secret(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_secret(extracted or "sk-test-0123456789abcdef")
        if create:
            self.save()
