"""The CloudFormation template: cfn-lint clean, least privilege, and user data the CLI accepts."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml

from portfolio_lab.cli import _parser

from ._tools import INFRA, REPO, tool

TEMPLATE = INFRA / "aws" / "gpu-run.yaml"
LAUNCH = INFRA / "aws" / "launch.sh"


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_Loader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)  # noqa: S506 (safe loader subclass)


def test_cfn_lint_passes() -> None:
    proc = subprocess.run(
        [tool("cfn-lint"), "--format", "parseable", str(TEMPLATE)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cfn_lint_would_catch_a_bad_property(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEMPLATE.read_text().replace("VolumeType: gp3", "VolumeKind: gp3"))
    proc = subprocess.run(
        [tool("cfn-lint"), "--format", "parseable", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "VolumeKind" in proc.stdout


def test_parameters_gpu_default_ssm_ami_and_spot(template: dict) -> None:
    params = template["Parameters"]
    assert params["InstanceType"]["Default"].startswith("g5.")
    assert params["AmiId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert params["AmiId"]["Default"].startswith("/aws/service/deeplearning/ami/")
    assert params["UseSpot"]["AllowedValues"] == ["true", "false"]
    assert params["ParamsFile"]["Default"] == "notebooks/params/gpu.yaml"
    assert (REPO / params["ParamsFile"]["Default"]).is_file()


def test_bucket_is_encrypted_and_private(template: dict) -> None:
    bucket = template["Resources"]["ResultsBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    block = bucket["PublicAccessBlockConfiguration"]
    assert all(block[k] is True for k in block) and len(block) == 4


def test_role_is_least_privilege(template: dict) -> None:
    role = template["Resources"]["InstanceRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert all("*" not in a for a in actions), f"wildcard action in {s['Sid']}"
        if s["Resource"] == "*":
            assert actions == ["ecr:GetAuthorizationToken"], f"{s['Sid']} on every resource"
        assert {a.split(":")[0] for a in actions} <= {"s3", "ecr"}


def test_security_group_opens_only_ssh_from_the_cidr(template: dict) -> None:
    rules = template["Resources"]["SshSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert rules == [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "CidrIp": {"Ref": "SshCidr"},
            "Description": "SSH from SshCidr",
        }
    ]


def _user_data(template: dict) -> str:
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    return data["UserData"]["Fn::Base64"]["Sub"]


def test_user_data_pulls_runs_on_gpus_syncs_and_stops(template: dict) -> None:
    script = _user_data(template)
    assert "docker pull" in script and "aws s3 sync" in script and "shutdown -h now" in script
    assert script.index("aws s3 sync") < script.index("shutdown -h now")
    proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run_line = next(line for line in script.splitlines() if line.startswith("docker run"))
    words = shlex.split(run_line)
    assert words[words.index("--gpus") + 1] == "all"
    image_at = words.index("$IMAGE")
    args = [w.replace("${ParamsFile}", "notebooks/params/gpu.yaml") for w in words[image_at + 1 :]]
    parsed = _parser().parse_args(args)  # the same arguments the image's entry point receives
    assert parsed.command == "run" and parsed.params == "notebooks/params/gpu.yaml"
    assert parsed.book and parsed.no_progress


def test_launch_script_dry_run_deploys_this_template() -> None:
    proc = subprocess.run(
        [
            "bash",
            str(LAUNCH),
            "--ssh-cidr",
            "198.51.100.7/32",
            "--region",
            "eu-west-1",
            "--spot",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    deploy = next(line for line in proc.stdout.splitlines() if "cloudformation deploy" in line)
    assert (
        str(TEMPLATE) in deploy and "UseSpot=true" in deploy and "SshCidr=198.51.100.7/32" in deploy
    )


def test_launch_script_requires_a_cidr() -> None:
    proc = subprocess.run(
        ["bash", str(LAUNCH), "--region", "eu-west-1", "--dry-run"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "--ssh-cidr" in proc.stderr


def test_no_credentials_in_the_infrastructure() -> None:
    key = re.compile(r"AKIA[0-9A-Z]{16}|aws_secret_access_key\s*=", re.I)
    for path in INFRA.rglob("*"):
        if path.is_file():
            assert not key.search(path.read_text(errors="ignore")), (
                f"credential-like text in {path}"
            )
