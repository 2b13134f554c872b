"""Apache Kafka for the local stack: resolved from Maven Central, run as one KRaft broker+controller.

Kafka 4.1.2 is pinned: the newest patch release of the 4.1 line, which has had two rounds of fixes
(4.1.1, 4.1.2) while still serving the classic consumer-group protocol that aiokafka and Faust speak.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
import uuid
from pathlib import Path

from deploy.local.errors import StackError
from deploy.local.process import Service, exclusive, port_holder, port_in_use

KAFKA_VERSION = "4.1.2"
LOG4J_VERSION = "2.25.3"
SLF4J_VERSION = "2.0.17"
HEAP = "-Xms256m -Xmx512m"

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.callapi</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{SLF4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data_dir}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
"""


def resolve_jars(cache_dir: Path) -> Path:
    """Resolve Kafka and its runtime dependencies into `cache_dir/libs` once; later calls reuse it."""
    libs = cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise StackError(
                f"`{tool}` is not on PATH. Install Java 17+ and Maven "
                "(Debian: apt-get install openjdk-17-jre-headless maven), then run `stack up` again."
            )
    pom_dir = libs.parent
    pom_dir.mkdir(parents=True, exist_ok=True)
    (pom_dir / "pom.xml").write_text(POM)
    shutil.rmtree(libs, ignore_errors=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom_dir / "pom.xml"), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={libs}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise StackError(
            "Maven could not resolve Apache Kafka " + KAFKA_VERSION + " from Maven Central.\n"
            + "\n".join(tail)
            + "\nCheck that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), then retry."
        )
    marker.write_text(KAFKA_VERSION)
    return libs


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class Kafka:
    """One KRaft broker+controller whose files all live under `stack_dir/kafka`."""

    def __init__(self, *, stack_dir: Path, cache_dir: Path, port: int = 9092, controller_port: int = 9093):
        self.home = stack_dir / "kafka"
        self.cache_dir = cache_dir
        self.port = port
        self.controller_port = controller_port
        self.service = Service(name="kafka", pid_file=self.home / "kafka.pid", port=port)

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    def up(self) -> str:
        with exclusive(self.home / "up.lock"):
            if self.service.running():
                return f"already running (pid {self.service.pid()}) on 127.0.0.1:{self.port}"
            self.service.check_port_free()
            if port_in_use(self.controller_port):  # else the broker starts, fails to bind it and exits
                raise StackError(
                    f"Port {self.controller_port} on 127.0.0.1, where Kafka's controller listens (the broker's port "
                    "+ 1), is already in use by another program, so kafka cannot start. Stop that program, or set "
                    "CALLAPI_KAFKA_BOOTSTRAP to another port."
                )
            return self.launch()

    def launch(self) -> str:
        """Start our broker and wait until the broker answering on our port is provably ours.

        `up` checks that the port is free first, but another broker can take it before ours binds (a second
        stack starting at the same time): ours then exits while the other one answers metadata requests. So
        readiness needs our process alive and the answering cluster id equal to the one in our storage folder.
        `up` calls this after its checks; called alone, it skips them.
        """
        command = self._prepare()
        self.service.start(command, log_file=self.home / "logs" / "stdout.log")
        try:
            self.service.wait_until(self._ready, timeout_s=90, what="this stack's Kafka to answer metadata")
        except StackError as error:
            self.service.stop(timeout_s=30)
            raise self._conflict() or error from None
        return f"started (pid {self.service.pid()}) on 127.0.0.1:{self.port}"

    def _prepare(self) -> list[str]:
        """Write the configuration, format the storage on first use; the command that runs the broker."""
        libs = resolve_jars(self.cache_dir)
        data = self.home / "data"
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(server_properties(data, self.port, self.controller_port))
        (self.home / "log4j2.properties").write_text(LOG4J2)
        classpath = f"{libs}/*"
        if not (data / "meta.properties").exists():
            self._format(classpath)
        log_dir = self.home / "logs"
        log_dir.mkdir(exist_ok=True)
        return [
            "java", *HEAP.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={log_dir}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp", classpath, "kafka.Kafka", str(self.config_file),
        ]

    def _format(self, classpath: str) -> None:
        result = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format", "--ignore-formatted",
             f"--cluster-id={new_cluster_id()}", "-c", str(self.config_file)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise StackError("Formatting KRaft storage failed:\n" + result.stdout + result.stderr)

    def cluster_id(self) -> str | None:
        """The cluster id our storage folder was formatted with (None before the first `up`)."""
        with contextlib.suppress(FileNotFoundError):
            for line in (self.home / "data" / "meta.properties").read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
        return None

    def _answering_cluster_id(self, port: int | None = None) -> str | None:
        from deploy.local.probe import kafka_cluster_id

        return kafka_cluster_id(f"127.0.0.1:{port or self.port}")

    def started_port(self) -> int:
        """The port our broker was last started on (its server.properties), else the port asked for.

        CALLAPI_KAFKA_BOOTSTRAP may name another port than the running broker's: status reports the broker's.
        """
        with contextlib.suppress(FileNotFoundError):
            for line in self.config_file.read_text().splitlines():
                if line.startswith("listeners="):
                    return int(line.split("PLAINTEXT://", 1)[1].split(",", 1)[0].rsplit(":", 1)[1])
        return self.port

    def _ready(self) -> bool:
        answering = self._answering_cluster_id()
        if answering is not None and answering != self.cluster_id():
            raise StackError(f"127.0.0.1:{self.port} answers as cluster {answering}, not ours")
        return answering is not None

    def _conflict(self) -> StackError | None:
        """Once our broker is stopped: the error naming what holds our port, or None when nothing does."""
        if not port_in_use(self.port):
            return None
        answering = self._answering_cluster_id()
        what = f"a broker of Kafka cluster {answering}" if answering else "which gives no Kafka metadata answer"
        return StackError(
            f"127.0.0.1:{self.port} is held by {port_holder(self.port)}, {what}, not by this stack's Kafka "
            f"(cluster {self.cluster_id()}), which was stopped.\n"
            "Stop that process (`callapi-events stack down --stack-dir <its folder>` if another stack started it), "
            "or run this stack on a free port: CALLAPI_KAFKA_BOOTSTRAP=127.0.0.1:<port>."
        )

    def down(self) -> str:
        return self.service.stop(timeout_s=60)

    def status(self) -> str:
        if not self.service.running():
            return "stopped"
        port = self.started_port()
        answering = self._answering_cluster_id(port)
        if answering is not None and answering != self.cluster_id():
            return f"not ready (pid {self.service.pid()}): 127.0.0.1:{port} answers as cluster {answering}"
        state = "starting" if answering is None else "ready"
        return f"{state} (pid {self.service.pid()}) on 127.0.0.1:{port}"
