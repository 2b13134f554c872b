"""The local real stack: Apache Kafka (KRaft, from Maven Central) and PostgreSQL (Debian's binaries)."""
