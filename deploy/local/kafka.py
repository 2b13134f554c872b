"""Apache Kafka for the local stack: resolved from Maven Central, run as one KRaft broker+controller.

Kafka 4.1.2 is pinned: the newest patch release of the 4.1 line, which has had two rounds of fixes
(4.1.1, 4.1.2) while still serving the classic consumer-group protocol that aiokafka and Faust speak.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from deploy.local.errors import StackError
from deploy.local.process import Service

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
        if self.service.running():
            return f"already running (pid {self.service.pid()}) on 127.0.0.1:{self.port}"
        self.service.check_port_free()
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
        command = [
            "java", *HEAP.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={log_dir}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp", classpath, "kafka.Kafka", str(self.config_file),
        ]
        self.service.start(command, log_file=log_dir / "stdout.log")
        self.service.wait_until(self._ready, timeout_s=90, what="Kafka to answer a metadata request")
        return f"started (pid {self.service.pid()}) on 127.0.0.1:{self.port}"

    def _format(self, classpath: str) -> None:
        result = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format", "--ignore-formatted",
             f"--cluster-id={new_cluster_id()}", "-c", str(self.config_file)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise StackError("Formatting KRaft storage failed:\n" + result.stdout + result.stderr)

    def _ready(self) -> bool:
        from deploy.local.probe import kafka_metadata_ok

        return kafka_metadata_ok(f"127.0.0.1:{self.port}")

    def down(self) -> str:
        return self.service.stop(timeout_s=60)

    def status(self) -> str:
        if not self.service.running():
            return "stopped"
        state = "ready" if self._ready() else "starting"
        return f"{state} (pid {self.service.pid()}) on 127.0.0.1:{self.port}"
