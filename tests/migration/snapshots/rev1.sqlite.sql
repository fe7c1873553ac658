-- tether schema at revision 1 (sqlite), frozen: the starting point of the upgrade test.

CREATE TABLE tether_workflows (
	app_name VARCHAR(128) NOT NULL, 
	workflow_id VARCHAR(255) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	version VARCHAR(128) NOT NULL, 
	executor_id VARCHAR(128), 
	lease_epoch INTEGER DEFAULT 0 NOT NULL, 
	inputs TEXT NOT NULL, 
	output TEXT, 
	error TEXT, 
	parent_id VARCHAR(255), 
	parent_position INTEGER, 
	queue_name VARCHAR(128), 
	priority INTEGER DEFAULT 0 NOT NULL, 
	dedup_id VARCHAR(255), 
	partition_key VARCHAR(255), 
	not_before BIGINT, 
	recovery_attempts INTEGER DEFAULT 0 NOT NULL, 
	created_at BIGINT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	started_at BIGINT, 
	completed_at BIGINT, 
	PRIMARY KEY (app_name, workflow_id)
);

CREATE INDEX ix_tether_wf_created ON tether_workflows (created_at);

CREATE INDEX ix_tether_wf_holder ON tether_workflows (executor_id, status, app_name);

CREATE INDEX ix_tether_wf_name_created ON tether_workflows (name, app_name, created_at);

CREATE INDEX ix_tether_wf_parent ON tether_workflows (parent_id, app_name);

CREATE INDEX ix_tether_wf_queue ON tether_workflows (queue_name, status, app_name, priority, created_at);

CREATE INDEX ix_tether_wf_status_version ON tether_workflows (status, version, app_name);

CREATE INDEX ix_tether_wf_version_created ON tether_workflows (version, app_name, created_at);

CREATE UNIQUE INDEX uq_tether_wf_dedup ON tether_workflows (app_name, queue_name, dedup_id) WHERE dedup_id IS NOT NULL;

CREATE TABLE tether_operations (
	app_name VARCHAR(128) NOT NULL, 
	workflow_id VARCHAR(255) NOT NULL, 
	position INTEGER NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	output TEXT, 
	error TEXT, 
	child_id VARCHAR(255), 
	version VARCHAR(128), 
	executor_id VARCHAR(128), 
	attempts INTEGER DEFAULT 1 NOT NULL, 
	started_at BIGINT, 
	completed_at BIGINT NOT NULL, 
	PRIMARY KEY (app_name, workflow_id, position)
);

CREATE TABLE tether_messages (
	id INTEGER NOT NULL, 
	app_name VARCHAR(128) NOT NULL, 
	dest_id VARCHAR(255) NOT NULL, 
	topic VARCHAR(255) NOT NULL, 
	payload TEXT NOT NULL, 
	created_at BIGINT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_tether_msg_dest ON tether_messages (app_name, dest_id, topic, id);

CREATE TABLE tether_events (
	app_name VARCHAR(128) NOT NULL, 
	workflow_id VARCHAR(255) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	value TEXT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	PRIMARY KEY (app_name, workflow_id, "key")
);

CREATE TABLE tether_executors (
	app_name VARCHAR(128) NOT NULL, 
	executor_id VARCHAR(128) NOT NULL, 
	version VARCHAR(128) NOT NULL, 
	runnable_versions TEXT NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	host VARCHAR(255), 
	pid INTEGER, 
	started_at BIGINT NOT NULL, 
	heartbeat_at BIGINT NOT NULL, 
	PRIMARY KEY (app_name, executor_id)
);

CREATE INDEX ix_tether_exec_heartbeat ON tether_executors (app_name, heartbeat_at);

CREATE TABLE tether_schema (
	"key" VARCHAR(64) NOT NULL, 
	value VARCHAR(255) NOT NULL, 
	PRIMARY KEY ("key")
);

INSERT INTO tether_schema (key, value) VALUES ('revision', '1');

INSERT INTO tether_schema (key, value) VALUES ('min_code', '1');
