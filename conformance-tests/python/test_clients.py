"""Strata driven by the Python clients users actually run: boto3 and the AWS CLI (v1).

The server binary comes from STRATA_BIN (default: target/debug/strata under the repository root);
build it first with `cargo build -p strata-server`. Each test module run starts one server on an
ephemeral port with a temporary data directory and stops it at the end.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret-1234567890"
REGION = "us-east-1"
REPO_ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
TLS_DIR = REPO_ROOT / "conformance-tests" / "fixtures" / "tls"


def strata_bin() -> Path:
    configured = os.environ.get("STRATA_BIN")
    if configured:
        return Path(configured)
    return REPO_ROOT / "target" / "debug" / "strata"


def aws_cli() -> str:
    """The `aws` next to this interpreter (a venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return str(beside)
    found = shutil.which("aws")
    if not found:
        pytest.skip("the AWS CLI is not installed (pip install -r requirements.txt)")
    return found


class StrataServer:
    """A `strata serve` child process on 127.0.0.1:<ephemeral>."""

    def __init__(self, root: Path, extra_args=()):
        self.root = root
        data = root / "data"
        data.mkdir()
        self.log = open(root / "server.log", "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
        env.update(STRATA_ACCESS_KEY=ACCESS_KEY, STRATA_SECRET_KEY=SECRET_KEY)
        binary = strata_bin()
        if not binary.exists():
            raise RuntimeError(f"{binary} does not exist: run `cargo build -p strata-server` first")
        self.process = subprocess.Popen(
            [str(binary), "serve", "--address", "127.0.0.1:0", "--data-dir", str(data), *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        first = self._first_line(timeout=60)
        scheme = "https" if "--tls-cert" in extra_args else "http"
        prefix = f"strata listening on {scheme}://127.0.0.1:"
        if not first.startswith(prefix):
            self.stop()
            raise RuntimeError(f"unexpected first line {first!r}:\n{self.log_tail()}")
        self.port = int(first[len(prefix):])
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}"
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def _first_line(self, timeout: float) -> str:
        result = {}

        def read():
            result["line"] = self.process.stdout.readline().decode().strip()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if "line" not in result:
            self.stop()
            raise RuntimeError(f"server printed no listening line:\n{self.log_tail()}")
        return result["line"]

    def log_tail(self) -> str:
        self.log.flush()
        text = (self.root / "server.log").read_bytes().decode(errors="replace")
        return text[-8192:]

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server():
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    os.environ["no_proxy"] = "127.0.0.1,localhost"
    root = Path(tempfile.mkdtemp(prefix="strata-pytest-"))
    srv = StrataServer(root)
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_client(server, verify=None, **config):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        verify=verify,
        config=Config(**config) if config else None,
    )


@pytest.fixture
def s3(server):
    return make_client(server)


@pytest.fixture
def bucket(s3):
    name = f"py-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def fetch(url: str, method: str = "GET", data: bytes = None, headers=None):
    """Plain urllib, no proxies: returns (status, headers, body) also for error statuses."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# ---------------------------------------------------------------------------------------------
# boto3


def test_boto3_bucket_lifecycle(s3):
    name = f"py-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names
    s3.head_bucket(Bucket=name)
    # Issue 15: re-creating one's own bucket in us-east-1 answers 200, as AWS documents
    # (API reference CreateBucket, legacy us-east-1 behaviour); other regions answer 409.
    s3.create_bucket(Bucket=name)
    location = s3.get_bucket_location(Bucket=name)
    assert location.get("LocationConstraint") in (None, "")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as error:
        s3.head_bucket(Bucket=name)
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_boto3_lifecycle_legacy_prefix_reads_back_as_written(s3, bucket):
    # Issue 18: a rule given with the legacy top-level <Prefix> came back rewritten into a
    # <Filter>, which tools comparing the two (Terraform) report as drift.
    s3.put_bucket_lifecycle(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [{"ID": "legacy", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 7}}]
        },
    )
    rule = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert rule["Prefix"] == "logs/"
    assert "Filter" not in rule
    assert s3.get_bucket_lifecycle(Bucket=bucket)["Rules"][0]["Prefix"] == "logs/"
    # A rule given with a <Filter> still reads back with one.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [{"ID": "filtered", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 1}}]
        },
    )
    rule = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert rule["Filter"] == {"Prefix": "tmp/"}
    assert "Prefix" not in rule


def test_boto3_put_get_list_delete(s3, bucket):
    body = os.urandom(300_000)
    put = s3.put_object(
        Bucket=bucket,
        Key="docs/report.bin",
        Body=body,
        ContentType="application/x-report",
        Metadata={"owner": "alice"},
    )
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()

    got = s3.get_object(Bucket=bucket, Key="docs/report.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-report"
    assert got["Metadata"] == {"owner": "alice"}
    assert got["ContentLength"] == len(body)

    head = s3.head_object(Bucket=bucket, Key="docs/report.bin")
    assert head["ETag"] == put["ETag"]

    part = s3.get_object(Bucket=bucket, Key="docs/report.bin", Range="bytes=10-19")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert part["Body"].read() == body[10:20]

    for key in ["docs/a.txt", "docs/sub/b.txt", "top.txt"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="docs/", Delimiter="/")
    assert [o["Key"] for o in listed["Contents"]] == ["docs/a.txt", "docs/report.bin"]
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["docs/sub/"]

    # The paginator follows continuation tokens.
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys == ["docs/a.txt", "docs/report.bin", "docs/sub/b.txt", "top.txt"]
    pages = s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys == ["docs/a.txt", "docs/report.bin", "docs/sub/b.txt", "top.txt"]

    s3.delete_object(Bucket=bucket, Key="top.txt")
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket=bucket, Key="top.txt")
    assert error.value.response["Error"]["Code"] == "NoSuchKey"

    deleted = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "docs/a.txt"}, {"Key": "docs/sub/b.txt"}]},
    )
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["docs/a.txt", "docs/sub/b.txt"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "docs/report.bin"}], "Quiet": True})
    assert not quiet.get("Deleted")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_boto3_paginate_with_delimiter(s3, bucket):
    # A page that ends on a CommonPrefix must not hand that prefix out again on the next page.
    for key in ["a/1", "a/2", "b", "c/1", "c/2", "d"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    for operation in ["list_objects_v2", "list_objects"]:
        pages = s3.get_paginator(operation).paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
        )
        keys, prefixes = [], []
        for page in pages:
            keys += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert keys == ["b", "d"], operation
        assert prefixes == ["a/", "c/"], operation


def test_boto3_awkward_keys_listing(s3, bucket):
    # boto3 asks for encoding-type=url and decodes the keys it gets back.
    keys = ["a b", "c+d", "e%f", "g&h", "unicode-é-日本", "dir/with space/x"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys, key=lambda k: k.encode())
    listed = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys, key=lambda k: k.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"


def test_boto3_bad_digest(s3, bucket):
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=wrong)
    assert error.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_boto3_checksum_round_trip(s3, bucket):
    body = os.urandom(50_000)
    s3.put_object(Bucket=bucket, Key="sum", Body=body, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_boto3_wrong_credentials(server, bucket):
    wrong = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="not-the-secret",
        region_name=REGION,
    )
    with pytest.raises(ClientError) as error:
        wrong.list_buckets()
    assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_boto3_default_presigned_get_is_sigv2(s3, bucket):
    body = os.urandom(20_000)
    s3.put_object(Bucket=bucket, Key="shared/file.bin", Body=body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared/file.bin"}, ExpiresIn=600)
    # boto3 presigns with SigV2 against a custom endpoint in us-east-1.
    assert "AWSAccessKeyId=" in url and "Signature=" in url, url
    status, _, got = fetch(url)
    assert status == 200, got
    assert got == body

    tampered = url.replace("Expires=", "Expires=1")
    status, _, got = fetch(tampered)
    assert status == 403, got


def test_boto3_sigv2_signer_on_bucket_requests(server):
    # Issue 18: botocore's SigV2 signer signs "/bucket/" for a request on a bucket whose path is
    # "/bucket", and every bucket request (CreateBucket, ?versioning, ?tagging ...) was refused
    # with SignatureDoesNotMatch.
    s3v2 = make_client(server, signature_version="s3")
    name = f"py-{uuid.uuid4().hex[:12]}"
    s3v2.create_bucket(Bucket=name)
    s3v2.head_bucket(Bucket=name)
    s3v2.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3v2.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    s3v2.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    assert s3v2.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "team", "Value": "a"}]
    s3v2.put_object(Bucket=name, Key="dir/k", Body=b"v2")
    assert s3v2.get_object(Bucket=name, Key="dir/k")["Body"].read() == b"v2"
    assert [o["Key"] for o in s3v2.list_objects(Bucket=name)["Contents"]] == ["dir/k"]
    # A wrong secret is still refused on the same requests.
    wrong = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="not-the-secret",
        region_name=REGION,
        config=Config(signature_version="s3"),
    )
    with pytest.raises(ClientError) as error:
        wrong.get_bucket_versioning(Bucket=name)
    assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    for version in s3v2.list_object_versions(Bucket=name).get("Versions", []):
        s3v2.delete_object(Bucket=name, Key=version["Key"], VersionId=version["VersionId"])
    s3v2.delete_bucket(Bucket=name)


def test_boto3_url_encoded_listings_return_control_characters(s3, bucket):
    # Issue 18 (pinned; the listings already answered this way): with encoding-type=url, which
    # boto3 always asks for, S3 encodes exactly the fields boto3 decodes, so a prefix, delimiter
    # or marker holding a control character comes back unchanged.
    keys = ["a\nb/1", "a\nb/2", "a\tc", "plain"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="a\n", Delimiter="/", StartAfter="a\n")
    assert v2["Prefix"] == "a\n"
    assert v2["Delimiter"] == "/"
    assert v2["StartAfter"] == "a\n"
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a\nb/"]
    v1 = s3.list_objects(Bucket=bucket, Prefix="a", Marker="a\nb/1", MaxKeys=1)
    assert v1["Prefix"] == "a"
    assert v1["Marker"] == "a\nb/1"
    assert [o["Key"] for o in v1["Contents"]] == ["a\nb/2"]
    v1 = s3.list_objects(Bucket=bucket, Delimiter="\t", MaxKeys=1)
    assert v1["Delimiter"] == "\t"
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["a\t"]
    assert v1["NextMarker"] == "a\t"
    versions = s3.list_object_versions(Bucket=bucket, Prefix="a\n", KeyMarker="a\nb/1")
    assert versions["Prefix"] == "a\n"
    assert versions["KeyMarker"] == "a\nb/1"
    assert [v["Key"] for v in versions["Versions"]] == ["a\nb/2"]
    paginated = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})
        for o in page.get("Contents", [])
    ]
    assert paginated == sorted(keys, key=lambda k: k.encode())


def test_boto3_sigv4_presigned_get_and_put(server, bucket):
    s3v4 = make_client(server, signature_version="s3v4")
    body = os.urandom(30_000)
    s3v4.put_object(Bucket=bucket, Key="v4.bin", Body=body)
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v4.bin"}, ExpiresIn=600)
    assert "X-Amz-Signature=" in url, url
    status, _, got = fetch(url)
    assert status == 200, got
    assert got == body

    put_url = s3v4.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded.txt"}, ExpiresIn=600
    )
    status, _, answer = fetch(put_url, method="PUT", data=b"via presigned PUT")
    assert status == 200, answer
    assert s3v4.get_object(Bucket=bucket, Key="uploaded.txt")["Body"].read() == b"via presigned PUT"


def test_boto3_virtual_hosted_is_not_needed_for_ip_endpoints(server, bucket):
    # addressing_style="path" is what users set for a custom endpoint; it must just work.
    s3 = make_client(server, s3={"addressing_style": "path"})
    s3.put_object(Bucket=bucket, Key="p", Body=b"path")
    assert s3.get_object(Bucket=bucket, Key="p")["Body"].read() == b"path"


# ---------------------------------------------------------------------------------------------
# AWS CLI


@pytest.fixture
def cli(server, tmp_path):
    """Runs `aws` against the server with a clean configuration."""
    return cli_runner(server, tmp_path)


def cli_runner(server, tmp_path, global_args=()):
    """`aws --endpoint-url ENDPOINT GLOBAL_ARGS ARGS` with a clean configuration."""
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    }
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        NO_PROXY="127.0.0.1,localhost",
    )
    binary = aws_cli()

    def run(*args, check=True, config_text=None):
        if config_text is not None:
            config.write_text(config_text)
        result = subprocess.run(
            [binary, "--endpoint-url", server.endpoint, *global_args, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"aws {' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\n"
                f"stderr: {result.stderr}\nserver log:\n{server.log_tail()}"
            )
        return result

    return run


def write_random(path: Path, size: int) -> str:
    digest = hashlib.md5()
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, MIB))
            digest.update(block)
            out.write(block)
            remaining -= len(block)
    return digest.hexdigest()


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def test_cli_mb_ls_head_rm(cli, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    cli("s3", "mb", f"s3://{name}")
    assert name in cli("s3", "ls").stdout

    small = tmp_path / "small.txt"
    small.write_text("hello from the aws cli\n")
    cli("s3", "cp", str(small), f"s3://{name}/dir/small.txt", "--content-type", "text/plain")
    listing = cli("s3", "ls", f"s3://{name}/dir/").stdout
    assert "small.txt" in listing and str(small.stat().st_size) in listing
    assert "PRE dir/" in cli("s3", "ls", f"s3://{name}").stdout

    head = json.loads(cli("s3api", "head-object", "--bucket", name, "--key", "dir/small.txt").stdout)
    assert head["ContentLength"] == small.stat().st_size
    assert head["ContentType"] == "text/plain"
    assert head["ETag"] == '"%s"' % hashlib.md5(small.read_bytes()).hexdigest()

    missing = cli("s3api", "head-object", "--bucket", name, "--key", "nope", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr

    cli("s3", "rm", f"s3://{name}/dir/small.txt")
    assert "small.txt" not in cli("s3", "ls", f"s3://{name}/dir/", check=False).stdout
    cli("s3", "rb", f"s3://{name}")
    assert name not in cli("s3", "ls").stdout


def test_cli_cp_20_mib_round_trip(cli, tmp_path):
    """20 MiB up in one PUT (threshold raised), down with the CLI's parallel ranged GETs."""
    name = f"cli-{uuid.uuid4().hex[:12]}"
    cli("s3", "mb", f"s3://{name}")
    source = tmp_path / "twenty.bin"
    want = write_random(source, 20 * MIB)

    single_put = "[default]\nregion = us-east-1\ns3 =\n    multipart_threshold = 64MB\n"
    cli("s3", "cp", str(source), f"s3://{name}/big/twenty.bin", config_text=single_put)
    head = json.loads(cli("s3api", "head-object", "--bucket", name, "--key", "big/twenty.bin").stdout)
    assert head["ETag"] == '"%s"' % want
    assert head["ContentLength"] == 20 * MIB
    assert str(20 * MIB) in cli("s3", "ls", f"s3://{name}/big/").stdout

    # Stock configuration downloads with ranged GETs (8 MiB parts).
    target = tmp_path / "down.bin"
    cli("s3", "cp", f"s3://{name}/big/twenty.bin", str(target), config_text="[default]\nregion = us-east-1\n")
    assert md5_file(target) == want


def cli_cp_round_trip(cli, tmp_path, size):
    """`aws s3 mb`, then `aws s3 cp` of `size` random bytes up and back down; the bytes must match."""
    name = f"cli-{uuid.uuid4().hex[:12]}"
    cli("s3", "mb", f"s3://{name}")
    source = tmp_path / "up.bin"
    want = write_random(source, size)
    cli("s3", "cp", str(source), f"s3://{name}/up.bin")
    target = tmp_path / "down.bin"
    cli("s3", "cp", f"s3://{name}/up.bin", str(target))
    assert md5_file(target) == want


def test_cli_cp_20_mib_stock_configuration(cli, tmp_path):
    """A stock `aws s3 cp` of 20 MiB: multipart upload (8 MiB parts) and ranged GETs."""
    cli_cp_round_trip(cli, tmp_path, 20 * MIB)


# ---------------------------------------------------------------------------------------------
# Multipart with boto3's transfer manager and the AWS CLI


def multipart_etag(part_md5s) -> str:
    """S3's multipart ETag: the MD5 of the parts' binary MD5s, then -N."""
    return '"%s-%d"' % (hashlib.md5(b"".join(part_md5s)).hexdigest(), len(part_md5s))


def test_boto3_transfer_manager_1_gib_round_trip(server):
    """1 GiB up with upload_file (8 MiB parts, 16 threads) and down with download_file."""
    from boto3.s3.transfer import TransferConfig

    s3 = make_client(server, max_pool_connections=32)
    bucket = f"py-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    size, chunk = 1024 * MIB, 8 * MIB
    fd, source = tempfile.mkstemp(prefix="strata-1gib-", dir="/tmp")
    target = source + ".down"
    try:
        whole = hashlib.md5()
        part_md5s = []
        with os.fdopen(fd, "wb") as out:
            for _ in range(size // chunk):
                block = os.urandom(chunk)
                whole.update(block)
                part_md5s.append(hashlib.md5(block).digest())
                out.write(block)
        config = TransferConfig(
            multipart_threshold=chunk, multipart_chunksize=chunk, max_concurrency=16
        )
        s3.upload_file(source, bucket, "big/one-gib.bin", Config=config)

        head = s3.head_object(Bucket=bucket, Key="big/one-gib.bin")
        assert head["ContentLength"] == size
        assert head["ETag"] == multipart_etag(part_md5s)

        s3.download_file(bucket, "big/one-gib.bin", target, Config=config)
        assert os.path.getsize(target) == size
        assert md5_file(Path(target)) == whole.hexdigest(), "bytes differ after the round trip"
    finally:
        for path in (source, target):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        s3.delete_object(Bucket=bucket, Key="big/one-gib.bin")


def test_cli_cp_multipart_file_both_ways(cli, tmp_path):
    """`aws s3 cp` of a 13 MiB file in 5 MiB parts, up and down."""
    name = f"cli-{uuid.uuid4().hex[:12]}"
    cli("s3", "mb", f"s3://{name}")
    source = tmp_path / "parts.bin"
    data = os.urandom(13 * MIB + 123)
    source.write_bytes(data)
    five = 5 * MIB
    part_md5s = [hashlib.md5(data[i : i + five]).digest() for i in range(0, len(data), five)]
    assert len(part_md5s) == 3

    config = (
        "[default]\nregion = us-east-1\ns3 =\n    multipart_threshold = 5MB\n"
        "    multipart_chunksize = 5MB\n"
    )
    cli("s3", "cp", "--only-show-errors", str(source), f"s3://{name}/dir/parts.bin", config_text=config)
    head = json.loads(cli("s3api", "head-object", "--bucket", name, "--key", "dir/parts.bin").stdout)
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == multipart_etag(part_md5s), "uploaded in three parts"

    target = tmp_path / "down.bin"
    cli("s3", "cp", "--only-show-errors", f"s3://{name}/dir/parts.bin", str(target), config_text=config)
    assert target.read_bytes() == data


def bucket_contents(s3, bucket, prefix):
    """{key relative to prefix: bytes} of everything under prefix."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            found[obj["Key"][len(prefix) :]] = body
    return found


def dir_contents(root: Path):
    """{relative path with / separators: bytes} of every file under root."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def test_cli_sync_both_ways(cli, s3, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    cli("s3", "mb", f"s3://{name}")
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "data").mkdir()
    (site / "index.html").write_text("<h1>first version</h1>\n")
    (site / "css" / "style.css").write_text("body { color: black; }\n")
    (site / "old.txt").write_text("to be deleted\n")
    # Over the CLI's 8 MiB threshold: synced as a multipart upload.
    (site / "data" / "big.bin").write_bytes(os.urandom(9 * MIB + 5))

    # local -> bucket
    cli("s3", "sync", "--only-show-errors", str(site), f"s3://{name}/site/")
    assert bucket_contents(s3, name, "site/") == dir_contents(site)

    # A changed file and a deleted one, mirrored with --delete.
    (site / "index.html").write_text("<h1>second, longer version</h1>\n")
    (site / "old.txt").unlink()
    cli("s3", "sync", "--only-show-errors", "--delete", str(site), f"s3://{name}/site/")
    remote = bucket_contents(s3, name, "site/")
    assert sorted(remote) == ["css/style.css", "data/big.bin", "index.html"]
    assert remote == dir_contents(site)

    # bucket -> local
    mirror = tmp_path / "mirror"
    cli("s3", "sync", "--only-show-errors", f"s3://{name}/site/", str(mirror))
    assert dir_contents(mirror) == dir_contents(site)

    # A changed, a deleted and a new object in the bucket, mirrored down with --delete.
    s3.put_object(Bucket=name, Key="site/css/style.css", Body=b"body { color: rebeccapurple; }\n")
    s3.delete_object(Bucket=name, Key="site/data/big.bin")
    s3.put_object(Bucket=name, Key="site/new.txt", Body=b"added in the bucket\n")
    cli("s3", "sync", "--only-show-errors", "--delete", f"s3://{name}/site/", str(mirror))
    local = dir_contents(mirror)
    assert sorted(local) == ["css/style.css", "index.html", "new.txt"]
    assert local == bucket_contents(s3, name, "site/")
    assert local["css/style.css"] == b"body { color: rebeccapurple; }\n"


def test_cli_s3api_multipart_copy_tagging_head(cli, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    cli("s3", "mb", f"s3://{name}")
    part1 = tmp_path / "part1"
    part2 = tmp_path / "part2"
    part1.write_bytes(os.urandom(5 * MIB))
    part2.write_bytes(os.urandom(1000))

    created = json.loads(
        cli("s3api", "create-multipart-upload", "--bucket", name, "--key", "mp.bin",
            "--content-type", "application/x-parts").stdout
    )
    upload_id = created["UploadId"]
    assert created["Key"] == "mp.bin" and created["Bucket"] == name

    parts = []
    for number, path in [(1, part1), (2, part2)]:
        out = json.loads(
            cli("s3api", "upload-part", "--bucket", name, "--key", "mp.bin", "--upload-id", upload_id,
                "--part-number", str(number), "--body", str(path)).stdout
        )
        assert out["ETag"] == '"%s"' % hashlib.md5(path.read_bytes()).hexdigest()
        parts.append({"PartNumber": number, "ETag": out["ETag"]})

    listed = json.loads(
        cli("s3api", "list-parts", "--bucket", name, "--key", "mp.bin", "--upload-id", upload_id).stdout
    )
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MIB), (2, 1000)]

    manifest = tmp_path / "parts.json"
    manifest.write_text(json.dumps({"Parts": parts}))
    done = json.loads(
        cli("s3api", "complete-multipart-upload", "--bucket", name, "--key", "mp.bin",
            "--upload-id", upload_id, "--multipart-upload", f"file://{manifest}").stdout
    )
    want_etag = multipart_etag([hashlib.md5(p.read_bytes()).digest() for p in (part1, part2)])
    assert done["ETag"] == want_etag
    assert done["Key"] == "mp.bin"

    head = json.loads(cli("s3api", "head-object", "--bucket", name, "--key", "mp.bin").stdout)
    assert head["ContentLength"] == 5 * MIB + 1000
    assert head["ETag"] == want_etag
    assert head["ContentType"] == "application/x-parts"

    copied = json.loads(
        cli("s3api", "copy-object", "--bucket", name, "--key", "copy.bin",
            "--copy-source", f"{name}/mp.bin").stdout
    )
    assert copied["CopyObjectResult"]["ETag"].startswith('"')
    assert "LastModified" in copied["CopyObjectResult"]
    head = json.loads(cli("s3api", "head-object", "--bucket", name, "--key", "copy.bin").stdout)
    assert head["ContentLength"] == 5 * MIB + 1000
    assert head["ContentType"] == "application/x-parts"
    target = tmp_path / "copy.bin"
    cli("s3api", "get-object", "--bucket", name, "--key", "copy.bin", str(target))
    assert target.read_bytes() == part1.read_bytes() + part2.read_bytes()

    cli("s3api", "put-object-tagging", "--bucket", name, "--key", "copy.bin",
        "--tagging", json.dumps({"TagSet": [{"Key": "team", "Value": "storage"},
                                            {"Key": "tier", "Value": "hot"}]}))
    tags = json.loads(cli("s3api", "get-object-tagging", "--bucket", name, "--key", "copy.bin").stdout)
    assert sorted((t["Key"], t["Value"]) for t in tags["TagSet"]) == [("team", "storage"), ("tier", "hot")]


# ---------------------------------------------------------------------------------------------
# HTTPS


@pytest.fixture(scope="module")
def tls_server():
    root = Path(tempfile.mkdtemp(prefix="strata-pytest-tls-"))
    srv = StrataServer(root, ["--tls-cert", str(TLS_DIR / "cert.pem"), "--tls-key", str(TLS_DIR / "key.pem")])
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


# Issue 14: the server spoke plain HTTP only, so presigned URLs and SSE-C could not be tested
# over HTTPS as clients use them.
def test_https_boto3_presigned_urls_and_plain_http_refused(tls_server):
    import ssl

    s3 = make_client(tls_server, verify=str(TLS_DIR / "cert.pem"), signature_version="s3v4")
    name = f"py-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    body = os.urandom(3 * MIB + 5)
    s3.put_object(Bucket=name, Key="over-tls.bin", Body=body)
    assert s3.get_object(Bucket=name, Key="over-tls.bin")["Body"].read() == body

    context = ssl.create_default_context(cafile=str(TLS_DIR / "cert.pem"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "over-tls.bin"}, ExpiresIn=600)
    assert url.startswith("https://127.0.0.1:"), url
    with opener.open(url, timeout=60) as response:
        assert response.status == 200
        assert response.read() == body
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": name, "Key": "p.txt"}, ExpiresIn=600)
    request = urllib.request.Request(put_url, data=b"presigned over https", method="PUT")
    with opener.open(request, timeout=60) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=name, Key="p.txt")["Body"].read() == b"presigned over https"

    # A client that does not trust the certificate refuses the connection.
    untrusting = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.URLError) as refused:
        untrusting.open(url, timeout=30)
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError), refused.value
    # Plain HTTP to the HTTPS port gets no S3 answer.
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        untrusting.open(f"http://127.0.0.1:{tls_server.port}/", timeout=30).read()


def test_https_cli_with_ca_bundle(tls_server, tmp_path):
    run = cli_runner(tls_server, tmp_path, ["--ca-bundle", str(TLS_DIR / "cert.pem")])
    cli_cp_round_trip(run, tmp_path, 9 * MIB)


def test_https_silent_client_is_dropped(tls_server):
    """A connection that never starts its TLS handshake is closed (actix's 3 s handshake timeout)."""
    import socket
    import time

    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=20) as sock:
        assert sock.recv(1) == b""
    assert time.monotonic() - started < 15


# issue #15: `aws s3 cp --acl public-read` failed outright (every ACL operation answered 501).
def test_cli_acls_ownership_and_a_public_policy(cli, server, tmp_path):
    name = f"cli-acl-{uuid.uuid4().hex[:12]}"
    cli("s3", "mb", f"s3://{name}")
    page = tmp_path / "index.html"
    page.write_text("<h1>public</h1>\n")
    # New buckets enforce bucket ownership (ACLs off), as on AWS: a public ACL is refused.
    refused = cli("s3", "cp", str(page), f"s3://{name}/index.html", "--acl", "public-read", check=False)
    assert refused.returncode != 0 and "AccessControlListNotSupported" in refused.stderr
    cli("s3api", "put-bucket-ownership-controls", "--bucket", name,
        "--ownership-controls", "Rules=[{ObjectOwnership=ObjectWriter}]")
    blocked = cli("s3", "cp", str(page), f"s3://{name}/index.html", "--acl", "public-read", check=False)
    assert blocked.returncode != 0 and "AccessDenied" in blocked.stderr, "BlockPublicAcls is on"
    cli("s3api", "delete-public-access-block", "--bucket", name)
    cli("s3", "cp", str(page), f"s3://{name}/index.html", "--acl", "public-read")
    status, _, body = fetch(f"{server.endpoint}/{name}/index.html")
    assert (status, body) == (200, page.read_bytes())
    acl = json.loads(cli("s3api", "get-object-acl", "--bucket", name, "--key", "index.html").stdout)
    uris = [g["Grantee"].get("URI") for g in acl["Grants"]]
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in uris

    # A private object next to it stays private; a policy opens a prefix to anonymous reads.
    cli("s3", "cp", str(page), f"s3://{name}/docs/guide.html")
    assert fetch(f"{server.endpoint}/{name}/docs/guide.html")[0] == 403
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "PublicDocs", "Effect": "Allow", "Principal": "*",
                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/docs/*"}],
    }))
    cli("s3api", "put-bucket-policy", "--bucket", name, "--policy", f"file://{policy}")
    assert fetch(f"{server.endpoint}/{name}/docs/guide.html")[0] == 200
    got = json.loads(cli("s3api", "get-bucket-policy", "--bucket", name).stdout)
    assert "PublicDocs" in got["Policy"]
    state = json.loads(cli("s3api", "get-bucket-policy-status", "--bucket", name).stdout)
    assert state["PolicyStatus"]["IsPublic"] is True
    bad = cli("s3api", "put-bucket-policy", "--bucket", name, "--policy", "{}", check=False)
    assert bad.returncode != 0 and "MalformedPolicy" in bad.stderr


def test_cli_object_lock_worked_example(cli, tmp_path):
    """The worked example of docs/object-lock.md, command for command."""
    name = f"cli-lock-{uuid.uuid4().hex[:8]}"
    cli("s3api", "create-bucket", "--bucket", name, "--object-lock-enabled-for-bucket")
    versioning = json.loads(cli("s3api", "get-bucket-versioning", "--bucket", name).stdout)
    assert versioning["Status"] == "Enabled"
    cli("s3api", "put-object-lock-configuration", "--bucket", name, "--object-lock-configuration",
        '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":30}}}')
    cfg = json.loads(cli("s3api", "get-object-lock-configuration", "--bucket", name).stdout)
    assert cfg["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 30}

    report = tmp_path / "report.csv"
    report.write_text("quarter,revenue\nQ3,42\n")
    put = json.loads(cli("s3api", "put-object", "--bucket", name, "--key", "ledger/q3.csv",
                         "--body", str(report)).stdout)
    version = put["VersionId"]
    head = json.loads(cli("s3api", "head-object", "--bucket", name, "--key", "ledger/q3.csv").stdout)
    assert head["ObjectLockMode"] == "GOVERNANCE" and "ObjectLockRetainUntilDate" in head

    # The version cannot be deleted; a plain delete only adds a marker.
    refused = cli("s3api", "delete-object", "--bucket", name, "--key", "ledger/q3.csv",
                  "--version-id", version, check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    marker = json.loads(cli("s3api", "delete-object", "--bucket", name, "--key", "ledger/q3.csv").stdout)
    assert marker["DeleteMarker"] is True

    # A legal hold holds even through the governance bypass.
    cli("s3api", "put-object-legal-hold", "--bucket", name, "--key", "ledger/q3.csv",
        "--version-id", version, "--legal-hold", "Status=ON")
    refused = cli("s3api", "delete-object", "--bucket", name, "--key", "ledger/q3.csv",
                  "--version-id", version, "--bypass-governance-retention", check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    cli("s3api", "put-object-legal-hold", "--bucket", name, "--key", "ledger/q3.csv",
        "--version-id", version, "--legal-hold", "Status=OFF")

    # COMPLIANCE cannot be shortened by anyone; GOVERNANCE can, with the bypass.
    retention = json.loads(cli("s3api", "get-object-retention", "--bucket", name, "--key", "ledger/q3.csv",
                               "--version-id", version).stdout)
    assert retention["Retention"]["Mode"] == "GOVERNANCE"
    cli("s3api", "delete-object", "--bucket", name, "--key", "ledger/q3.csv",
        "--version-id", version, "--bypass-governance-retention")
    listed = json.loads(cli("s3api", "list-object-versions", "--bucket", name).stdout)
    assert [v["VersionId"] for v in listed.get("Versions", [])] == []

    kept = json.loads(cli("s3api", "put-object", "--bucket", name, "--key", "ledger/q4.csv",
                          "--body", str(report), "--object-lock-mode", "COMPLIANCE",
                          "--object-lock-retain-until-date", "2100-01-01T00:00:00Z").stdout)
    shorter = cli("s3api", "put-object-retention", "--bucket", name, "--key", "ledger/q4.csv",
                  "--version-id", kept["VersionId"], "--bypass-governance-retention", "--retention",
                  '{"Mode":"COMPLIANCE","RetainUntilDate":"2099-01-01T00:00:00Z"}', check=False)
    assert shorter.returncode != 0 and "AccessDenied" in shorter.stderr
    suspend = cli("s3api", "put-bucket-versioning", "--bucket", name, "--versioning-configuration",
                  "Status=Suspended", check=False)
    assert suspend.returncode != 0 and "InvalidBucketState" in suspend.stderr
