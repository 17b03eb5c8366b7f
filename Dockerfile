# One image for every zuulish component: the component is the command, e.g.
#   podman run --rm -v ./zuulish.yaml:/etc/zuulish/zuulish.yaml:ro IMAGE scheduler
# (scheduler, executor, merger, launcher, web, run; `db upgrade` once before starting
# a new version). See config-examples/distributed/ and the README's "Running zuulish on
# many machines".
#
# BASE: any Debian bookworm image (python3 is 3.11 there). Where docker.io cannot be
# reached, build one with `python -m zuulish.nodepool.podman_image` (debootstrap) and
# pass `--build-arg BASE=localhost/zuulish-node:bookworm`.
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}

# git for everything; bubblewrap, passt (pasta), rsync and openssh-client for the
# executor's sandboxes, network and nodes.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates git \
        bubblewrap passt rsync openssh-client \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

# zuulish in a venv, installed from this source tree, which stays in the image: the
# dashboard's templates and assets (web/) and the job library (jobs/) are read from
# beside the package. EXTRAS: the optional drivers (aws: boto3, openstack).
ARG EXTRAS=aws,openstack
# A private index, or a CA that pip must trust (a TLS-intercepting proxy; with podman:
# `-v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg
# PIP_CERT=/run/build-ca.crt`). pip reads both from the environment; neither stays in
# the image.
ARG PIP_INDEX_URL
ARG PIP_CERT
COPY pyproject.toml README.md /opt/zuulish/src/
COPY zuulish /opt/zuulish/src/zuulish
COPY web /opt/zuulish/src/web
COPY jobs /opt/zuulish/src/jobs
RUN python3 -m venv /opt/zuulish/venv \
    && /opt/zuulish/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        -e "/opt/zuulish/src[${EXTRAS}]" \
    && ln -s /opt/zuulish/venv/bin/zuulish /usr/local/bin/zuulish
# what `zuulish demo` sets up its demo tenant from (try it: `podman run --privileged
# --user 0 IMAGE demo`)
COPY config-examples/quickstart /opt/zuulish/src/config-examples/quickstart

# Every component but the executor runs as this user. The executor runs as root in its
# container (its sandboxes: see the README), with the privileges that bubblewrap needs.
RUN groupadd --system --gid 10001 zuulish \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/zuulish \
        --create-home --shell /usr/sbin/nologin zuulish \
    && install -d -o zuulish -g zuulish /etc/zuulish
USER zuulish
WORKDIR /var/lib/zuulish
ENV ZUULISH_CONFIG=/etc/zuulish/zuulish.yaml \
    PYTHONUNBUFFERED=1
# web (dashboard, API, forge over HTTP), executor console stream
EXPOSE 9000 7900
ENTRYPOINT ["zuulish"]
CMD ["--help"]
