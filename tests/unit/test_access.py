from annotation.access import ROLE_CAPABILITIES, Capability
from annotation.models import Role


def test_roles_grant_nested_capabilities():
    assert ROLE_CAPABILITIES[Role.ANNOTATOR] < ROLE_CAPABILITIES[Role.REVIEWER] < ROLE_CAPABILITIES[Role.MANAGER]
    assert Capability.MANAGE not in ROLE_CAPABILITIES[Role.REVIEWER]
    assert Capability.REVIEW not in ROLE_CAPABILITIES[Role.ANNOTATOR]
    assert set(ROLE_CAPABILITIES) == set(Role)
