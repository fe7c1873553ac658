"""Every table of tether on one MetaData, for SQLite and Postgres alike.

Times are integer epoch milliseconds (portable, index-friendly, no timezone ambiguity).
Values are JSON text. ``app_name`` is part of every primary key and index so that several apps
can share one database. New columns must be nullable or have a server default, so that
older code keeps working on a newer schema during a rollout.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# Rows whose deadline may still fire (the timeout sweep's index; see runtime.timeouts).
DEADLINE_OPEN = "deadline_at IS NOT NULL AND status IN ('ENQUEUED', 'PENDING', 'SUSPENDED')"

ID = String(255)
BigId = BigInteger().with_variant(Integer(), "sqlite")

workflows = Table(
    "tether_workflows",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("workflow_id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("version", String(128), nullable=False),
    Column("executor_id", String(128)),
    # Fencing token: bumped on every change of holder; writes carry the epoch they hold.
    Column("lease_epoch", Integer, nullable=False, server_default=text("0")),
    Column("inputs", Text, nullable=False),
    Column("output", Text),
    Column("error", Text),
    Column("parent_id", ID),
    Column("parent_position", Integer),
    Column("queue_name", String(128)),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("dedup_id", String(255)),
    Column("partition_key", String(255)),
    Column("not_before", BigInteger),
    Column("recovery_attempts", Integer, nullable=False, server_default=text("0")),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("started_at", BigInteger),
    Column("completed_at", BigInteger),
    # Dequeue order within a priority (revision 4): microseconds at enqueue, strictly
    # increasing per producer process, so FIFO holds even within one millisecond.
    Column("queue_seq", BigInteger),
    # A fork's origin: the workflow it was copied from and the position the copy stops at
    # (revision 3).
    Column("forked_from", ID),
    Column("forked_from_position", Integer),
    # A workflow timeout (revision 7): its length, and the absolute deadline (set at start,
    # or at dequeue for a queued workflow; children inherit their parent's).
    Column("timeout_ms", BigInteger),
    Column("deadline_at", BigInteger),
    # A suspended workflow's wake condition (revision 6): the kind of durable wait, what it
    # waits on (a topic; the workflow an event or child wait watches, with the event key in
    # wait_topic), and its deadline. Read only while status is SUSPENDED.
    Column("wait_kind", String(16)),
    Column("wait_topic", String(255)),
    Column("wait_target", ID),
    Column("wake_at", BigInteger),
    # The W3C traceparent of the span that started or enqueued it (revision 10): each run's
    # span is a child of it, across recovery (see runtime.observe). NULL: not observed.
    Column("trace_context", String(128)),
    # Secondary indexes lead with their selective column, not app_name, so that the
    # primary key is the only index a single-row lookup by (app_name, workflow_id) can use.
    Index("ix_tether_wf_status_version", "status", "version", "app_name"),
    # What a version finished since a time (revision 5): rollout gates read it every step.
    Index("ix_tether_wf_version_done", "version", "app_name", "completed_at"),
    Index("ix_tether_wf_version_created", "version", "app_name", "created_at"),
    Index("ix_tether_wf_created", "created_at"),
    Index("ix_tether_wf_name_created", "name", "app_name", "created_at"),
    Index("ix_tether_wf_holder", "executor_id", "status", "app_name"),
    Index("ix_tether_wf_parent", "parent_id", "app_name"),
    Index("ix_tether_wf_queue", "queue_name", "status", "app_name", "priority", "created_at"),
    Index(
        "uq_tether_wf_dedup",
        "app_name",
        "queue_name",
        "dedup_id",
        unique=True,
        postgresql_where=text("dedup_id IS NOT NULL"),
        sqlite_where=text("dedup_id IS NOT NULL"),
    ),
    # Queues (revision 4). Partial indexes: waiting rows only for dequeue order and depth,
    # queued rows only for rate-limit and statistics windows; single-row lookups never
    # match their predicates, so the primary key stays their only choice.
    Index(
        "ix_tether_wf_dequeue",
        "queue_name",
        "app_name",
        "priority",
        "queue_seq",
        postgresql_where=text("status = 'ENQUEUED'"),
        sqlite_where=text("status = 'ENQUEUED'"),
    ),
    Index(
        "ix_tether_wf_waiting",
        "queue_name",
        "app_name",
        "version",
        "created_at",
        postgresql_where=text("status = 'ENQUEUED'"),
        sqlite_where=text("status = 'ENQUEUED'"),
    ),
    Index(
        "ix_tether_wf_q_started",
        "queue_name",
        "app_name",
        "started_at",
        postgresql_where=text("queue_name IS NOT NULL"),
        sqlite_where=text("queue_name IS NOT NULL"),
    ),
    # Suspension (revision 6): due times, and waits on another workflow (an event or child).
    Index(
        "ix_tether_wf_wake",
        "wake_at",
        "app_name",
        postgresql_where=text("status = 'SUSPENDED'"),
        sqlite_where=text("status = 'SUSPENDED'"),
    ),
    Index(
        "ix_tether_wf_wait_target",
        "wait_target",
        "app_name",
        postgresql_where=text("status = 'SUSPENDED'"),
        sqlite_where=text("status = 'SUSPENDED'"),
    ),
    Index(
        "ix_tether_wf_deadline",
        "deadline_at",
        "app_name",
        postgresql_where=text(DEADLINE_OPEN),
        sqlite_where=text(DEADLINE_OPEN),
    ),
    Index(
        "ix_tether_wf_q_done",
        "app_name",
        "completed_at",
        postgresql_where=text("queue_name IS NOT NULL"),
        sqlite_where=text("queue_name IS NOT NULL"),
    ),
    # Retention (revision 8): finished workflows oldest first, and the open forks that keep
    # the workflow they were copied from.
    Index(
        "ix_tether_wf_finished",
        "app_name",
        "completed_at",
        postgresql_where=text("completed_at IS NOT NULL"),
        sqlite_where=text("completed_at IS NOT NULL"),
    ),
    Index(
        "ix_tether_wf_forked_from",
        "forked_from",
        "app_name",
        postgresql_where=text("forked_from IS NOT NULL"),
        sqlite_where=text("forked_from IS NOT NULL"),
    ),
)

# One row per recorded operation (step, sleep, send, recv, event, child, patch marker, ...)
operations = Table(
    "tether_operations",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("workflow_id", ID, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("output", Text),
    Column("error", Text),
    Column("child_id", ID),
    Column("version", String(128)),
    Column("executor_id", String(128)),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("started_at", BigInteger),
    Column("completed_at", BigInteger, nullable=False),
)

messages = Table(
    "tether_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("app_name", String(128), nullable=False),
    Column("dest_id", ID, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_tether_msg_dest", "app_name", "dest_id", "topic", "id"),
)

events = Table(
    "tether_events",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("workflow_id", ID, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

executors = Table(
    "tether_executors",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("executor_id", String(128), primary_key=True),
    Column("version", String(128), nullable=False),
    Column("runnable_versions", Text, nullable=False),  # JSON list
    Column("state", String(16), nullable=False),  # RUNNING, DRAINING, STOPPED
    Column("host", String(255)),
    Column("pid", Integer),
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
    # The executor's own lease timeout (revision 2): peers and tools judge its liveness by
    # it, not by their own setting.
    Column("lease_timeout_ms", Integer),
    Index("ix_tether_exec_heartbeat", "app_name", "heartbeat_at"),
)

# The version registry: one row per version of an app ever seen (revision 2).
versions = Table(
    "tether_versions",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("release", String(64)),  # PEP 440 release tag, optional
    Column("platform_revision", String(255)),  # e.g. the Cloud Run revision it maps to
    Column("state", String(16), nullable=False, server_default=text("'active'")),
    Column("patches", Text, nullable=False, server_default=text("'[]'")),  # JSON list
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    # What its code declares (revision 9): workflow names (JSON list; NULL: launched before
    # revision 9, unknown) and the hash of its workflow sources.
    Column("workflows", Text),
    Column("source_hash", String(64)),
)

# Where new work goes, per app (revision 2): the current version, and optionally a ramping
# version that receives ``ramping_percent`` of new workflow ids (stable hash).
routing = Table(
    "tether_routing",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("current_version", String(128)),
    Column("ramping_version", String(128)),
    Column("ramping_percent", Float, nullable=False, server_default=text("0")),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(255)),
)

# Every move of a workflow to another version (revision 3): who moved it, from where, when.
workflow_moves = Table(
    "tether_workflow_moves",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("app_name", String(128), nullable=False),
    Column("workflow_id", ID, nullable=False),
    Column("from_version", String(128), nullable=False),
    Column("to_version", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # "migrate"
    Column("moved_by", String(255), nullable=False),
    Column("moved_at", BigInteger, nullable=False),
    Column("detail", Text),  # JSON: what was checked before the move
    Index("ix_tether_moves_workflow", "app_name", "workflow_id", "id"),
)

# Cron schedules (revision 4): one workflow per tick, the tick time in its id. ``source``
# is "code" for ``@app.scheduled`` and "runtime" for schedules created through the API.
schedules = Table(
    "tether_schedules",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("workflow_name", String(255), nullable=False),
    Column("cron", String(255), nullable=False),
    Column("timezone", String(64), nullable=False, server_default=text("'UTC'")),
    Column("state", String(16), nullable=False, server_default=text("'ACTIVE'")),
    Column("missed", String(16), nullable=False, server_default=text("'skip'")),
    Column("queue_name", String(128)),
    Column("source", String(16), nullable=False, server_default=text("'runtime'")),
    Column("last_tick", BigInteger),  # the latest tick handled (fired or skipped), epoch ms
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Durable streams (revision 7): append-only entries a workflow writes under a key, read by
# offset (``seq``). ``position`` is the operation that wrote the entry; a NULL value marks
# the stream closed.
streams = Table(
    "tether_streams",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("workflow_id", ID, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("value", Text),
    Column("position", Integer),
    Column("created_at", BigInteger, nullable=False),
)

# Idempotency keys of sends (revision 7): a send whose key was seen for its destination
# delivers nothing. Kept after the message is consumed, so a retry still delivers once.
message_keys = Table(
    "tether_message_keys",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("dest_id", ID, primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

# Queues as the database knows them (revision 7): the limits each version declared in code
# (JSON, last declaration wins) and the limits changed at run time, which take precedence.
queues = Table(
    "tether_queues",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("declared", Text, nullable=False, server_default=text("'{}'")),
    Column("overrides", Text, nullable=False, server_default=text("'{}'")),
    Column("declared_by", String(128)),  # the version that last declared it
    Column("updated_at", BigInteger, nullable=False),
)

# Every run-time change of a queue's limits (revision 7): before, after, who, when.
queue_changes = Table(
    "tether_queue_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("app_name", String(128), nullable=False),
    Column("queue_name", String(128), nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("changed_by", String(255), nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Index("ix_tether_queue_changes", "app_name", "queue_name", "id"),
)

schema_info = Table(
    "tether_schema",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

# Rollouts (revision 5): one row per rollout of a service to a candidate revision, its state
# and where it stands; the decisions it took are in ``rollout_events``.
rollouts = Table(
    "tether_rollouts",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("rollout_id", ID, primary_key=True),
    Column("service", String(255), nullable=False),
    Column("baseline", String(255)),  # the revision serving when the rollout began
    Column("candidate", String(255), nullable=False),
    # running, paused, promoted, rolled_back, failed
    Column("state", String(16), nullable=False),
    Column("stage", Integer, nullable=False, server_default=text("0")),
    Column("percent", Integer, nullable=False, server_default=text("0")),
    Column("reason", Text),
    Column("plan", Text, nullable=False),  # JSON
    Column("platform", Text, nullable=False),  # JSON: how to reach the platform again
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_tether_rollouts_service", "app_name", "service", "created_at"),
)

# Every decision a rollout or the autoscaler took, with its reason (revision 5). ``key`` makes
# a decision recorded by a step that is re-run after a crash land once.
rollout_events = Table(
    "tether_rollout_events",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("rollout_id", ID, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Column("at", BigInteger, nullable=False),
    Index("ix_tether_rollout_events_at", "app_name", "rollout_id", "at"),
)

# At most one active rollout per service (revision 5): the row names the rollout holding it.
rollout_locks = Table(
    "tether_rollout_locks",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("service", String(255), primary_key=True),
    Column("rollout_id", ID, nullable=False),
    Column("acquired_at", BigInteger, nullable=False),
)

# The autoscaler's memory per service (revision 5): bounds it last set, when, and since when
# the load has asked for fewer instances (scale-in is debounced from there).
autoscale_state = Table(
    "tether_autoscale",
    metadata,
    Column("app_name", String(128), primary_key=True),
    Column("service", String(255), primary_key=True),
    Column("min_instances", Integer),
    Column("max_instances", Integer),
    Column("low_since", BigInteger),
    Column("last_change_at", BigInteger),
    Column("updated_at", BigInteger, nullable=False),
)
