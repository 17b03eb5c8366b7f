"""The aws driver against moto's server, through the real boto3 (and a proxy in
front of moto for the errors and quotas moto does not give)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.fakes.moto_server import (
    FaultProxy,
    MotoServer,
    closed_port_url,
    moto_with_auth,
    silent_endpoint,
)
from zuulish.errors import ConfigError
from zuulish.nodepool import aws, drivers
from zuulish.nodepool.cloud import (
    TAG_NODE,
    TAG_PROVIDER,
    TAG_REQUEST,
    TAG_SYSTEM,
    ErrorKind,
    InstanceState,
    LabelSpec,
    ProviderError,
    ProviderSpec,
)
from zuulish.nodepool.resources import Limits, Resources

AMAZON_LINUX = {"name": "amazon-linux", "username": "ec2-user", "python-path": "/usr/bin/python3",
                "image-filters": [{"name": "name",
                                   "values": ["amzn2-ami-hvm-2.0.*-x86_64-gp2"]}]}
SMALL = {"name": "small", "instance-type": "t3.medium", "volume-size": 40,
         "volume-type": "gp3"}
GPU = {"name": "gpu-a10g", "instance-type": "g5.xlarge"}
SPOT = {"name": "small-spot", "instance-type": "t3.medium", "market-type": "spot"}


def label(name: str, flavor: dict[str, Any], image: dict[str, Any] = AMAZON_LINUX,
          **attributes: Any) -> LabelSpec:
    return LabelSpec(name, {"key-name": "zuul", **attributes}, dict(image), dict(flavor))


def provider_spec(connection: dict[str, Any], *labels: LabelSpec,
                  **attributes: Any) -> ProviderSpec:
    labels = labels or (label("small", SMALL),)
    return ProviderSpec("aws-test", "aws", connection, attributes,
                        {spec.name: spec for spec in labels}, "zuul.d/providers.yaml", 12)


def node_tags(system_id: str, node: str = "n1") -> dict[str, str]:
    return {TAG_SYSTEM: system_id, TAG_PROVIDER: "aws-test", TAG_NODE: node,
            TAG_REQUEST: "r1"}


@pytest.fixture
def system_id(moto_server: MotoServer) -> Iterator[str]:
    """A system id of its own for each test; its instances are terminated after."""
    system = f"zuulish-{uuid.uuid4().hex[:8]}"
    yield system
    for region in ("us-east-1", "us-west-2"):
        leftover = moto_server.living(system, region)
        if leftover:
            moto_server.client("ec2", region).terminate_instances(InstanceIds=leftover)


@pytest.fixture(scope="session", autouse=True)
def key_pair(moto_server: MotoServer) -> None:
    """The key pair the labels name (moto checks that it exists, as AWS does)."""
    for region in ("us-east-1", "us-west-2"):
        ec2 = moto_server.client("ec2", region)
        if not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["zuul"]}])[
                "KeyPairs"]:
            ec2.create_key_pair(KeyName="zuul")


def make(spec: ProviderSpec, system_id: str) -> aws.AwsProvider:
    return drivers.driver("aws").make(spec, system_id)  # type: ignore[return-value]


def test_boots_a_tagged_instance_and_reports_it_ready(moto_server: MotoServer,
                                                       system_id: str) -> None:
    ec2 = moto_server.client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]
    provider = make(provider_spec(moto_server.connection(),
                                  label("small", SMALL, **{"subnet-id": subnet["SubnetId"],
                                                           "security-group-id": group["GroupId"],
                                                           "tags": {"team": "ci"}})),
                    system_id)
    provider.refresh()
    assert provider.offers["small"].resources == Resources(instances=1, cores=2, ram_mb=4096)
    assert provider.offers["small"].gpu_model is None

    instance_id = provider.create("small", node_tags(system_id))

    node = provider.status(instance_id)
    assert node.state is InstanceState.READY
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert node.hostname == described["PrivateIpAddress"]
    assert node.host_vars == {"ansible_host": node.hostname, "ansible_port": 22,
                              "ansible_user": "ec2-user",
                              "ansible_python_interpreter": "/usr/bin/python3"}
    assert described["InstanceType"] == "t3.medium"
    assert described["KeyName"] == "zuul"
    assert described["SubnetId"] == subnet["SubnetId"]
    assert [g["GroupId"] for g in described["SecurityGroups"]] == [group["GroupId"]]
    assert "InstanceLifecycle" not in described  # on demand
    expected = {**node_tags(system_id), "zuulish-label": "small", "team": "ci",
                "Name": "zuulish-small-n1"}
    assert expected.items() <= node.tags.items()
    volume_id = described["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (volume["Size"], volume["VolumeType"]) == (40, "gp3")
    assert expected.items() <= {t["Key"]: t["Value"] for t in volume["Tags"]}.items()

    provider.delete(instance_id)
    assert provider.status(instance_id).state is InstanceState.GONE
    assert [i for i in provider.instances() if i.tags.get(TAG_SYSTEM) == system_id] == []
    assert moto_server.living(system_id) == []
    assert ec2.describe_volumes(Filters=[{"Name": "tag:zuulish-system",
                                          "Values": [system_id]}])["Volumes"] == []


def test_lists_every_instance_with_the_system_tag(moto_server: MotoServer,
                                                 system_id: str) -> None:
    provider = make(provider_spec(moto_server.connection()), system_id)
    mine = provider.create("small", node_tags(system_id))
    ec2 = moto_server.client("ec2")
    image = ec2.describe_instances(InstanceIds=[mine])["Reservations"][0]["Instances"][0][
        "ImageId"]

    def run(tags: list[dict[str, str]]) -> str:
        spec = [{"ResourceType": "instance", "Tags": tags}] if tags else []
        return str(ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1,
                                     MaxCount=1, TagSpecifications=spec)["Instances"][0][
            "InstanceId"])
    # leaked by an earlier installation (another system id), and one not ours at all
    other = run([{"Key": TAG_SYSTEM, "Value": "another"}])
    stranger = run([{"Key": "Name", "Value": "web"}])
    gone = provider.create("small", node_tags(system_id, "n2"))
    provider.delete(gone)
    try:
        listed = {i.external_id: i for i in provider.instances()}
        assert mine in listed and other in listed
        assert stranger not in listed and gone not in listed
        assert listed[mine].tags[TAG_NODE] == "n1"
        assert listed[other].tags == {TAG_SYSTEM: "another"}
    finally:
        ec2.terminate_instances(InstanceIds=[other, stranger])
        provider.delete(mine)
    assert moto_server.living(system_id) == []


def test_gpu_instance_types_cost_their_gpus(moto_server: MotoServer, system_id: str) -> None:
    provider = make(provider_spec(moto_server.connection(), label("small", SMALL),
                                  label("gpu", GPU),
                                  label("gpu8", {"name": "p4d", "instance-type": "p4d.24xlarge"})),
                    system_id)
    assert provider.offers["gpu"].resources == Resources(instances=1)  # before refresh
    provider.refresh()
    assert provider.offers["gpu"].resources == Resources(instances=1, cores=4, ram_mb=16384,
                                                         gpus=1)
    assert provider.offers["gpu"].gpu_model == "NVIDIA A10G"
    assert provider.offers["gpu8"].resources.gpus == 8
    assert provider.offers["gpu8"].gpu_model == "NVIDIA A100"
    assert provider.offers["small"].resources.gpus == 0
    instance_id = provider.create("gpu", node_tags(system_id))
    assert moto_server.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]["InstanceType"] == "g5.xlarge"
    provider.delete(instance_id)
    assert moto_server.living(system_id) == []


def test_spot_instances_and_their_interruption(moto_server: MotoServer, system_id: str) -> None:
    provider = make(provider_spec(moto_server.connection(), label("spot", SPOT)), system_id)
    instance_id = provider.create("spot", node_tags(system_id))
    described = moto_server.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    assert described["InstanceLifecycle"] == "spot"
    assert provider.status(instance_id).state is InstanceState.READY

    # AWS takes the capacity back: the node failed, with the cloud's reason
    moto_server.set_state(instance_id, "terminated", reason_code="Server.SpotInstanceTermination",
                          reason_message="Server.SpotInstanceTermination: Spot instance "
                                         "termination")
    node = provider.status(instance_id)
    assert node.state is InstanceState.FAILED
    assert node.reason is not None and "Spot instance termination" in node.reason
    provider.delete(instance_id)  # already terminated: not an error
    assert moto_server.living(system_id) == []


def test_boot_that_fails_or_sticks_in_the_cloud(moto_server: MotoServer, system_id: str) -> None:
    provider = make(provider_spec(moto_server.connection()), system_id)
    stuck = provider.create("small", node_tags(system_id, "n1"))
    moto_server.set_state(stuck, "pending")
    assert provider.status(stuck).state is InstanceState.BUILDING
    assert provider.status(stuck).hostname == ""

    # out of capacity while booting (over quota mid-boot)
    failed = provider.create("small", node_tags(system_id, "n2"))
    moto_server.set_state(failed, "terminated", reason_code="Server.InsufficientInstanceCapacity",
                          reason_message="Server.InsufficientInstanceCapacity: Insufficient "
                                         "capacity.")
    node = provider.status(failed)
    assert node.state is InstanceState.FAILED
    assert node.reason == "Server.InsufficientInstanceCapacity: Insufficient capacity."
    # an instance that stopped is no node either
    moto_server.set_state(stuck, "stopped", reason_code="Client.UserInitiatedShutdown",
                          reason_message="Client.UserInitiatedShutdown: User initiated")
    assert provider.status(stuck).state is InstanceState.FAILED
    for instance_id in (stuck, failed):
        provider.delete(instance_id)
    assert moto_server.living(system_id) == []


def test_delete_is_idempotent(moto_server: MotoServer, system_id: str) -> None:
    provider = make(provider_spec(moto_server.connection()), system_id)
    instance_id = provider.create("small", node_tags(system_id))
    provider.delete(instance_id)
    provider.delete(instance_id)
    assert provider.status(instance_id).state is InstanceState.GONE
    # terminated by an operator, then deleted by the launcher
    other = provider.create("small", node_tags(system_id, "n2"))
    moto_server.client("ec2").terminate_instances(InstanceIds=[other])
    assert provider.status(other).state is InstanceState.GONE
    provider.delete(other)
    provider.delete("i-0123456789abcdef0")  # never existed
    assert provider.status("i-0123456789abcdef0").state is InstanceState.GONE
    assert moto_server.living(system_id) == []


def test_quota_from_service_quotas_refuses_before_run_instances(
        moto_server: MotoServer, fault_proxy: FaultProxy, system_id: str) -> None:
    # us-west-2: no other test's instances count against its quotas
    fault_proxy.quotas(L_1216C47A=4, L_DB2E81BA=4, L_34B43A08=2)
    provider = make(provider_spec(moto_server.connection(fault_proxy.url, "us-west-2"),
                                  label("small", SMALL), label("gpu", GPU),
                                  label("spot", SPOT)), system_id)
    provider.refresh()
    # standard on-demand + G on-demand + standard spot: an upper bound for the launcher
    assert provider.quota() == Limits(cores=10)

    first = provider.create("small", node_tags(system_id, "n1"))
    # the quota is the account's: an instance zuulish did not make counts too
    ec2 = moto_server.client("ec2", "us-west-2")
    image = ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0][
        "ImageId"]
    foreign = ec2.run_instances(ImageId=image, InstanceType="t3.medium", MinCount=1,
                                MaxCount=1)["Instances"][0]["InstanceId"]
    runs = fault_proxy.calls.count("RunInstances")
    with pytest.raises(ProviderError) as refused:
        provider.create("small", node_tags(system_id, "n2"))
    assert refused.value.kind is ErrorKind.QUOTA
    assert "L-1216C47A" in str(refused.value) and "4 of 4 in use" in str(refused.value)
    assert fault_proxy.calls.count("RunInstances") == runs  # refused before asking AWS

    # G instances have a quota of their own: one g5.xlarge fits, a second does not
    gpu = provider.create("gpu", node_tags(system_id, "n3"))
    with pytest.raises(ProviderError) as refused:
        provider.create("gpu", node_tags(system_id, "n4"))
    assert refused.value.kind is ErrorKind.QUOTA and "L-DB2E81BA" in str(refused.value)
    # spot counts against the spot quota: 2 vCPUs fit, a second t3.medium does not
    spot = provider.create("spot", node_tags(system_id, "n5"))
    with pytest.raises(ProviderError) as refused:
        provider.create("spot", node_tags(system_id, "n6"))
    assert "L-34B43A08" in str(refused.value)

    # deleting frees the quota
    provider.delete(first)
    provider.create("small", node_tags(system_id, "n7"))
    ec2.terminate_instances(InstanceIds=[foreign])
    for instance in provider.instances():
        if instance.tags.get(TAG_SYSTEM) == system_id:
            provider.delete(instance.external_id)
    assert gpu and spot
    assert moto_server.living(system_id, "us-west-2") == []


def test_creates_from_many_threads_stay_within_the_quota(
        moto_server: MotoServer, fault_proxy: FaultProxy, system_id: str) -> None:
    # the quota is the account's: what earlier tests of this moto server left running
    # would count too
    ec2 = moto_server.client("ec2", "us-west-2")
    left = [i["InstanceId"] for r in ec2.describe_instances(Filters=[{
        "Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
        for i in r["Instances"]]
    if left:
        ec2.terminate_instances(InstanceIds=left)
    fault_proxy.quotas(L_1216C47A=4)
    provider = make(provider_spec(moto_server.connection(fault_proxy.url, "us-west-2")),
                    system_id)
    provider.refresh()

    def create(node: int) -> str:
        try:
            return provider.create("small", node_tags(system_id, f"n{node}"))
        except ProviderError as exc:
            assert exc.kind is ErrorKind.QUOTA, exc
            return "refused"
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(create, range(6)))
    booted = [result for result in results if result != "refused"]
    assert len(booted) == 2  # 2 vCPUs each, 4 allowed
    assert sorted(moto_server.living(system_id, "us-west-2")) == sorted(booted)
    for instance_id in booted:
        provider.delete(instance_id)
    assert moto_server.living(system_id, "us-west-2") == []


def test_quota_falls_back_to_the_default_value(moto_server: MotoServer,
                                               fault_proxy: FaultProxy, system_id: str) -> None:
    fault_proxy.quotas(L_1216C47A=16)
    fault_proxy.default_quotas(L_DB2E81BA=8)  # no applied value for G: AWS's default holds
    provider = make(provider_spec(moto_server.connection(fault_proxy.url),
                                  label("small", SMALL), label("gpu", GPU)), system_id)
    assert provider.quota() == Limits(cores=24)
    assert fault_proxy.calls.count("GetAWSDefaultServiceQuota") == 1


def test_quota_unknown_when_service_quotas_has_none(moto_server: MotoServer,
                                                    system_id: str) -> None:
    # moto's Service Quotas knows no EC2 quota (NoSuchResourceException), and does
    # not implement GetAWSDefaultServiceQuota (a 500)
    provider = make(provider_spec(moto_server.connection()), system_id)
    assert provider.quota() == Limits()
    instance_id = provider.create("small", node_tags(system_id))
    provider.delete(instance_id)


@pytest.mark.parametrize("code", ["InsufficientInstanceCapacity", "InstanceLimitExceeded",
                                  "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded"])
def test_cloud_refusals_for_capacity_are_quota(moto_server: MotoServer, fault_proxy: FaultProxy,
                                               system_id: str, code: str) -> None:
    fault_proxy.fail("RunInstances", code, "We currently do not have sufficient capacity.")
    provider = make(provider_spec(moto_server.connection(fault_proxy.url)), system_id)
    with pytest.raises(ProviderError) as refused:
        provider.create("small", node_tags(system_id))
    assert refused.value.kind is ErrorKind.QUOTA
    assert f"{code}: We currently do not have sufficient capacity." in str(refused.value)
    assert moto_server.living(system_id) == []


@pytest.mark.parametrize("action,status,code,kind", [
    ("DescribeInstances", 503, "Unavailable", ErrorKind.TRANSIENT),
    ("DescribeInstances", 500, "InternalError", ErrorKind.TRANSIENT),
    ("DescribeInstances", 400, "RequestLimitExceeded", ErrorKind.TRANSIENT),
    ("RunInstances", 401, "AuthFailure", ErrorKind.PERMANENT),
    ("RunInstances", 403, "UnauthorizedOperation", ErrorKind.PERMANENT),
    ("DescribeInstanceTypes", 403, "InvalidClientTokenId", ErrorKind.PERMANENT),
])
def test_cloud_errors_are_sorted(moto_server: MotoServer, fault_proxy: FaultProxy,
                                 system_id: str, action: str, status: int, code: str,
                                 kind: ErrorKind) -> None:
    fault_proxy.fail(action, code, f"the cloud says {code}", status=status)
    provider = make(provider_spec(moto_server.connection(fault_proxy.url)), system_id)
    call = {"DescribeInstances": provider.instances,
            "RunInstances": lambda: provider.create("small", node_tags(system_id)),
            "DescribeInstanceTypes": provider.refresh}[action]
    with pytest.raises(ProviderError) as failed:
        call()
    assert failed.value.kind is kind
    assert f"the cloud says {code}" in str(failed.value)
    assert moto_server.living(system_id) == []


def test_wrong_credentials_are_permanent(system_id: str, moto_server: MotoServer) -> None:
    with moto_with_auth() as url:
        provider = make(provider_spec(moto_server.connection(url)), system_id)
        for call in (provider.refresh, provider.instances,
                     lambda: provider.create("small", node_tags(system_id))):
            with pytest.raises(ProviderError) as refused:
                call()
            assert refused.value.kind is ErrorKind.PERMANENT
            assert "AuthFailure: AWS was not able to validate" in str(refused.value)


def test_unknown_image_or_instance_type_is_permanent(moto_server: MotoServer,
                                                     system_id: str) -> None:
    connection = moto_server.connection()
    missing_ami = {"name": "gone", "image-id": "ami-0000000000000dead"}
    provider = make(provider_spec(connection, label("old", SMALL, missing_ami)), system_id)
    for call in (provider.refresh, lambda: provider.create("old", node_tags(system_id))):
        with pytest.raises(ProviderError) as refused:
            call()
        assert refused.value.kind is ErrorKind.PERMANENT
        assert "image 'gone'" in str(refused.value) and "InvalidAMIID" in str(refused.value)

    no_match = {"name": "nothing", "image-filters": [{"name": "name", "values": ["nope-*"]}]}
    provider = make(provider_spec(connection, label("none", SMALL, no_match)), system_id)
    with pytest.raises(ProviderError, match="image 'nothing'.*no such image") as refused:
        provider.refresh()
    assert refused.value.kind is ErrorKind.PERMANENT

    bad_type = {"name": "huge", "instance-type": "zz9.enormous"}
    provider = make(provider_spec(connection, label("huge", bad_type)), system_id)
    with pytest.raises(ProviderError, match="zz9.enormous.*flavor huge") as refused:
        provider.refresh()
    assert refused.value.kind is ErrorKind.PERMANENT
    with pytest.raises(ProviderError, match="zz9.enormous") as refused:
        provider.create("huge", node_tags(system_id))  # RunInstances refuses it
    assert refused.value.kind is ErrorKind.PERMANENT
    assert moto_server.living(system_id) == []


def test_endpoint_down_or_silent_is_transient(moto_server: MotoServer, system_id: str) -> None:
    provider = make(provider_spec(moto_server.connection(closed_port_url())), system_id)
    with pytest.raises(ProviderError, match="Could not connect") as failed:
        provider.instances()
    assert failed.value.kind is ErrorKind.TRANSIENT

    with silent_endpoint() as url:
        connection = {**moto_server.connection(url), "read-timeout": 0.5}
        provider = make(provider_spec(connection), system_id)
        with pytest.raises(ProviderError, match="Read timeout") as failed:
            provider.status("i-0123456789abcdef0")
        assert failed.value.kind is ErrorKind.TRANSIENT


def test_run_instances_that_never_answers_is_transient(
        moto_server: MotoServer, fault_proxy: FaultProxy, system_id: str) -> None:
    fault_proxy.hang("RunInstances")
    connection = {**moto_server.connection(fault_proxy.url), "read-timeout": 0.5}
    provider = make(provider_spec(connection), system_id)
    with pytest.raises(ProviderError) as failed:
        provider.create("small", node_tags(system_id))
    assert failed.value.kind is ErrorKind.TRANSIENT
    # botocore tried twice at most: the launcher, not boto, retries
    assert fault_proxy.calls.count("RunInstances") <= 2


def test_public_address_when_asked(moto_server: MotoServer, system_id: str) -> None:
    public = {**SMALL, "name": "public", "public-ipv4": True}
    provider = make(provider_spec(moto_server.connection(), label("public", public)), system_id)
    instance_id = provider.create("public", node_tags(system_id))
    described = moto_server.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    node = provider.status(instance_id)
    assert node.hostname == described["PublicIpAddress"] != described["PrivateIpAddress"]
    provider.delete(instance_id)
    assert moto_server.living(system_id) == []


def test_make_does_not_call_the_cloud_and_common_attributes() -> None:
    spec = provider_spec({"driver": "aws", "endpoint-url": closed_port_url()},
                         label("small", SMALL), region="eu-central-1",
                         **{"launch-timeout": 300, "boot-timeout": 60, "launch-attempts": 2,
                            "host-key-checking": False, "max-servers": 5,
                            "resource-limits": {"instances": 10, "cores": 64}})
    provider = make(spec, "s")
    assert provider.limits == Limits(instances=5, cores=64)
    assert (provider.launch_timeout, provider.boot_timeout, provider.launch_attempts,
            provider.host_key_checking) == (300, 60, 2, False)
    assert provider.offers["small"].resources == Resources(instances=1)


@pytest.mark.parametrize("change,message", [
    (lambda s: s.update(flavor={"name": "f"}), "flavor 'f' needs 'instance-type'"),
    (lambda s: s.update(flavor={**SMALL, "market-type": "cheap"}), "market-type must be"),
    (lambda s: s.update(image={"name": "i"}), "image 'i' needs one of 'image-id' or"),
    (lambda s: s.update(image={**AMAZON_LINUX, "image-id": "ami-1"}), "needs one of"),
    (lambda s: s.update(image={"name": "i", "image-filters": [{"name": "x"}]}),
     "each entry needs 'name' and 'values'"),
    (lambda s: s.update(flavor={**SMALL, "volume-size": "big"}), "volume-size must be a number"),
    (lambda s: s.update(attributes={"public-ipv4": "yes"}), "public-ipv4 must be true or false"),
    (lambda s: s.update(connection={"driver": "aws", "region-name": "x", "access-key-id": "A"}),
     "needs both 'access-key-id' and 'secret-access-key'"),
    (lambda s: s.update(connection={"driver": "aws"}), "needs a 'region'"),
    (lambda s: s.update(connection={"driver": "aws", "region-name": "x", "timeout": 3}),
     "unknown connection option"),
    (lambda s: s.update(connection={"driver": "aws", "region-name": "x", "read-timeout": -1}),
     "read-timeout must be a positive number"),
])
def test_bad_configuration_is_refused_at_its_file(change: Any, message: str) -> None:
    parts: dict[str, Any] = {"connection": {"driver": "aws", "region-name": "us-east-1"},
                             "flavor": SMALL, "image": AMAZON_LINUX, "attributes": {}}
    change(parts)
    spec = provider_spec(parts["connection"],
                         LabelSpec("small", parts["attributes"], parts["image"], parts["flavor"]))
    with pytest.raises(ConfigError, match=message) as refused:
        make(spec, "s")
    assert str(refused.value).startswith("zuul.d/providers.yaml:12: aws provider 'aws-test'")


def test_instance_type_quota_classes() -> None:
    assert aws.quota_class("t3.medium") == "standard"
    assert aws.quota_class("g5.xlarge") == aws.quota_class("vt1.3xlarge") == "g"
    assert aws.quota_class("p4d.24xlarge") == "p"
    assert aws.quota_class("inf2.xlarge") == "inf"
    assert aws.quota_class("u-6tb1.metal") == "u"
    assert aws.vcpu_quota("g5.xlarge", spot=True)[0] == "L-3819A6DF"
    assert aws.vcpu_quota("u-6tb1.metal", spot=True)[0] is None


def test_credentials_from_a_profile(moto_server: MotoServer, system_id: str,
                                    tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[zuul]\naws_access_key_id = AKIAPROFILE0000000000\n"
                           "aws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    connection = {"region-name": "us-east-1", "endpoint-url": moto_server.url}
    provider = make(provider_spec({**connection, "profile": "zuul"}), system_id)
    instance_id = provider.create("small", node_tags(system_id))
    provider.delete(instance_id)

    provider = make(provider_spec({**connection, "profile": "nobody"}), system_id)
    with pytest.raises(ProviderError, match="profile \\(nobody\\) could not be found") as bad:
        provider.instances()
    assert bad.value.kind is ErrorKind.PERMANENT
    assert moto_server.living(system_id) == []


def test_without_boto3_the_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = aws.importlib.util.find_spec
    monkeypatch.setattr(aws.importlib.util, "find_spec",
                        lambda name, *a: None if name == "boto3" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs boto3: pip install 'zuulish\[aws\]'"):
        make(provider_spec({"region-name": "us-east-1"}), "s")
