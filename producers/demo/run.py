"""The demo, start to end: migrate, topics, workers, provisioning, traffic, drain, summary, chart.

Each run uses its own topic prefix (`<prefix>demo-<run id>.`), so its counts are its own and a backlog on
the main topics is never touched; the topics are deleted at the end unless kept. The demo tenant (code
9990) and its extensions persist in PostgreSQL; its requests are replaced on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from producers.demo.processes import Child, scrape, settings_env, wait_ready
from producers.demo.receiver import DemoReceiver
from producers.demo.view import Snapshot, latency_chart, live_table, snapshot, summary_table
from producers.errors import DemoFailed
from producers.sdk import CallEventProducer
from producers.simulator.generator import Plan, Timeline
from producers.simulator.provision import AdminCli, provision
from producers.simulator.runner import RunStats, planned_events, run
from schemas.collector import SENDING_YOUNG_THRESHOLD, collecting_less_often
from schemas.extensions import extended_form
from schemas.ops import free_port
from schemas.settings import Settings

DEMO_TENANT = 9990
WORKERS = ("api", "relay", "processor", "deliver", "sink")
READY_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 20.0
    rate_eps: float = 40.0
    extensions: int = 10
    seed: int = 2026
    fail_one_in: int = 20
    keep_topics: bool = False


@dataclass
class Demo:
    settings: Settings
    options: DemoOptions
    console: Console
    work_dir: Path
    receiver: DemoReceiver = field(default_factory=lambda: DemoReceiver(occurred_at={}))
    children: dict[str, Child] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    stats: RunStats = field(default_factory=RunStats)

    @property
    def plan(self) -> Plan:
        return Plan(seed=self.options.seed, organizations=1, extensions=self.options.extensions,
                    rate_eps=self.options.rate_eps, tenant_base=DEMO_TENANT)

    async def shot(self, client: httpx.AsyncClient) -> Snapshot:
        processor, deliver = await asyncio.gather(scrape(client, self.urls["processor"]),
                                                  scrape(client, self.urls["deliver"]))
        return snapshot(produced=self.stats.total_acked, processor=processor, deliver=deliver, receiver=self.receiver)


def demo_settings(settings: Settings, run_id: str) -> Settings:
    return settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}demo-{run_id}.",
                                       "allow_private_urls": True})


async def prepare(demo: Demo) -> None:
    """Database schema, topics, the receiver and the workers, all ready."""
    env = settings_env(demo.settings)
    migrate = Child("migrate", "db", "migrate", env=env, log_dir=demo.work_dir)
    if await migrate.run_to_end(120) != 0:
        raise DemoFailed(f"`db migrate` failed (see {migrate.log_path}); is PostgreSQL up? `callapi-events stack up`")
    topics = Child("topics", "topics", "create", env=env, log_dir=demo.work_dir)
    if await topics.run_to_end(120) != 0:
        raise DemoFailed(f"`topics create` failed (see {topics.log_path}); is Kafka up? `callapi-events stack up`")
    await wait_for_topics(demo.settings)
    demo.urls["receiver"] = await demo.receiver.start()
    for name in WORKERS:
        port = free_port()
        extra = ("--no-relay",) if name == "api" else ()
        demo.children[name] = Child(name, name, "--port", str(port), *extra, env=env, log_dir=demo.work_dir)
        demo.urls[name] = f"http://127.0.0.1:{port}"
        await demo.children[name].start()
    async with httpx.AsyncClient() as client:
        for name in WORKERS:
            await wait_ready(client, demo.children[name], demo.urls[name], READY_TIMEOUT_S)


async def provision_tenant(demo: Demo) -> None:
    population = demo.plan.population()
    await provision(population, database_url=demo.settings.database_url, api_url=demo.urls["api"],
                    receiver_url=demo.urls["receiver"], admin=AdminCli(env=settings_env(demo.settings)),
                    replace=True)
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the processor's table knows every demo extension
            metrics = await scrape(client, demo.urls["processor"])
            if sum(metrics.get("callapi_processor_table_extensions", {}).values()) >= len(population.extensions):
                return
            await asyncio.sleep(0.25)
    raise DemoFailed(f"the processor did not receive the demo configuration; see {demo.work_dir}")


async def traffic(demo: Demo, live: Live, progress: Progress) -> None:
    with collecting_less_often(SENDING_YOUNG_THRESHOLD) as warmed_up:
        timeline, expected = Timeline(demo.plan), Timeline(demo.plan)  # before the start is taken: see Timeline
        task = progress.add_task("simulating", total=demo.options.duration_s)
        async with CallEventProducer(settings=demo.settings, client_id="callapi-demo") as producer:
            start = datetime.now(UTC)  # once connected: events due while it connected would all go at once
            demo.receiver.restart_clock()
            demo.receiver.occurred_at.update({
                (f"/{extended_form(e.extension)}/{e.type.slug}", e.CallID): e.occurred_at
                for e in planned_events(expected, start=start, duration_s=demo.options.duration_s)
            })
            warmed_up()  # the timeline and the events the receiver expects live through the run
            sending = asyncio.create_task(run(timeline, producer=producer, start=start,
                                              duration_s=demo.options.duration_s, on_event=_keep(demo)))
            async def sent() -> bool:
                return sending.done()

            try:
                await _refresh(demo, live, progress, sent, phase="simulating",
                               tick=lambda: progress.update(task, completed=min(
                                   demo.options.duration_s, (datetime.now(UTC) - start).total_seconds())))
                demo.stats = await sending
            finally:  # interrupted: stop sending before the producer closes
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
    progress.update(task, completed=demo.options.duration_s)


def _keep(demo: Demo) -> Callable[[RunStats], None]:
    def keep(stats: RunStats) -> None:
        demo.stats = stats

    return keep


async def drain(demo: Demo, live: Live, progress: Progress) -> Snapshot:
    """Wait until every job is delivered or failed and the receiver has seen every delivery."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    async with httpx.AsyncClient() as client:

        async def done() -> bool:
            shot = await demo.shot(client)
            return (shot.jobs >= shot.produced and shot.delivered + shot.failed >= shot.jobs
                    and shot.accepted >= shot.delivered) or time.monotonic() > deadline

        await _refresh(demo, live, progress, done, phase="draining")
        return await demo.shot(client)


async def _refresh(demo: Demo, live: Live, progress: Progress, finished: Callable[[], Awaitable[bool]], *,
                   phase: str, tick: Callable[[], None] = lambda: None) -> None:
    async with httpx.AsyncClient() as client:
        while not await finished():
            tick()
            live.update(Group(progress, live_table(await demo.shot(client), phase=phase)))
            await asyncio.sleep(0.5)


async def shutdown(demo: Demo) -> None:
    for name in reversed(WORKERS):
        if name in demo.children:
            await demo.children[name].stop()
    await demo.receiver.stop()
    if not demo.options.keep_topics:
        with contextlib.suppress(Exception):
            await delete_prefixed_topics(demo.settings.kafka_bootstrap, demo.settings.topic_prefix)


async def wait_for_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """New topics take a moment to appear in every broker's metadata; the workers check them at start."""
    wanted = {spec.name for spec in settings.topic_specs()}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not wanted <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise DemoFailed(f"the topics {settings.topic_prefix}* did not appear within {timeout_s:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def delete_prefixed_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def run_demo(settings: Settings, options: DemoOptions, console: Console) -> tuple[Snapshot, Path | None]:
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    work_dir = (settings.stack_dir / "demo" / run_id).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(demo_settings(settings, run_id), options, console, work_dir,
                receiver=DemoReceiver(occurred_at={}, fail_one_in=options.fail_one_in))
    console.print(f"demo run {run_id}: topics {demo.settings.topic_prefix}*, logs in {work_dir}")
    began = time.monotonic()
    try:
        with console.status("migrating, creating topics, starting api, relay, processor, delivery and sink"):
            await prepare(demo)
        with console.status(f"provisioning tenant {DEMO_TENANT:04d} with {options.extensions} extensions"):
            await provision_tenant(demo)
        progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console)
        with Live(console=console, refresh_per_second=4) as live:
            await traffic(demo, live, progress)
            final = await drain(demo, live, progress)
            live.update(Group(progress, live_table(final, phase="done")))
    finally:
        with console.status("stopping the workers"):
            await shutdown(demo)
    console.print()
    console.print(summary_table(final, elapsed_s=time.monotonic() - began))
    chart = latency_chart(demo.receiver.samples, work_dir / "latency.png") if demo.receiver.samples else None
    return final, chart
