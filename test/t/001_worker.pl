# The cqrs_conf background worker: it runs in the database named by
# cqrs_conf.database, sequences committed events without anyone calling
# cqrs.drain() (woken by the committing transaction, not by its polling
# interval), comes back after pg_terminate_backend() and after a crash of
# the whole server, and picks up a new cqrs_conf.worker_naptime on SIGHUP.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CqrsConfTest;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
# A polling interval of an hour: whatever happens within seconds is the
# commit wakeup, not the polling.
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = 'postgres'
cqrs_conf.worker_naptime = '1h'
max_prepared_transactions = 4
restart_after_crash = on
});
$node->start;

my $worker_query =
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'";

sub worker_pid
{
	return $node->safe_psql('postgres', $worker_query);
}

sub wait_for_worker
{
	my ($not_pid) = @_;
	my $cond =
	  "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'"
	  . (defined $not_pid ? " AND pid <> $not_pid" : "")
	  . " AND datname = 'postgres'";
	return $node->poll_query_until('postgres', $cond);
}

my $n_appended = 0;

# Appends one event in its own transaction; returns its event id.
sub append_event
{
	my ($label, $psql_node) = @_;
	$n_appended++;
	return $node->safe_psql(
		'postgres', qq{
		SELECT cqrs.append(cqrs.derived_stream_id('WorkerTest', '00000000-0000-4000-8000-000000000001'),
		                   'WorkerTest', NULL,
		                   jsonb_build_array(jsonb_build_object('type', 'Tick', 'data',
		                       jsonb_build_object('label', '$label'))));
		SELECT event_id FROM cqrs.events WHERE data->>'label' = '$label';
	});
}

sub sequenced
{
	my ($label) = @_;
	return "SELECT global_position > 0 FROM cqrs.events WHERE data->>'label' = '$label'";
}

# Every committed event has exactly one position, and they are 1..N.
sub check_dense
{
	my ($name) = @_;
	my $res = $node->safe_psql(
		'postgres', q{
		SELECT count(*) FILTER (WHERE global_position = 0),
		       count(*), count(DISTINCT global_position),
		       coalesce(min(global_position), 0), coalesce(max(global_position), 0),
		       (SELECT last_position FROM cqrs.sequencer_state)
		  FROM cqrs.events});
	my ($unseq, $count, $distinct, $min, $max, $last) = split /\|/, $res;
	is($unseq, 0, "$name: no committed event left without a position");
	ok($distinct == $count && $min == 1 && $max == $count && $last == $max,
		"$name: positions are 1..$count, each once (count $count, distinct $distinct, min $min, max $max, state $last)");
}

# --- the worker runs, in the configured database
ok(wait_for_worker(), 'the worker shows in pg_stat_activity as "cqrs_conf worker"');
my $pid = worker_pid();
ok($node->log_contains(qr/cqrs_conf worker started in database "postgres"/),
	'the worker logged its start');

# Created after the worker started: the worker must notice it.
$node->safe_psql('postgres', 'CREATE EXTENSION cqrs_conf');

# --- committed events get positions with nobody calling drain()
my $t0 = time();
append_event('first');
ok(poll_for($node, 'postgres', sequenced('first'), 10),
	'an appended and committed event gets a global position without drain()');
diag(sprintf('first event sequenced %.0f ms after its commit', 1000 * (time() - $t0)));

$t0 = time();
append_event("burst$_") for 1 .. 20;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM cqrs.events WHERE global_position = 0"),
	'a burst of commits is sequenced');
diag(sprintf('20 commits sequenced within %.0f ms', 1000 * (time() - $t0)));
is($node->safe_psql('postgres',
	"SELECT string_agg(data->>'label', ',' ORDER BY global_position) FROM cqrs.events WHERE data->>'label' LIKE 'burst%'"),
	join(',', map { "burst$_" } 1 .. 20),
	'sequenced in commit order');
is(worker_pid(), $pid, 'the same worker did it all');

# An open transaction's event waits for its commit, the others do not.
my $open = $node->background_psql('postgres');
$open->query_safe(q{BEGIN; SELECT cqrs.append('00000000-0000-4000-8000-0000000000aa', 'WorkerTest', NULL,
	'[{"type": "Tick", "data": {"label": "long"}}]')});
append_event('while-long-open');
ok(poll_for($node, 'postgres', sequenced('while-long-open'), 10),
	'an event committed while another transaction is open is sequenced');
is($node->safe_psql('postgres', "SELECT count(*) FROM cqrs.events WHERE data->>'label' = 'long'"),
	'0', 'the open transaction\'s event is not visible yet');
$open->query_safe('COMMIT');
$open->quit;
ok($node->poll_query_until('postgres', sequenced('long')),
	'the long transaction\'s event is sequenced once it commits');
check_dense('while running');

# --- pg_terminate_backend: exit code 1, restarted after bgw_restart_time
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'"),
	'the worker is gone after pg_terminate_backend');
# committed while no worker runs: nobody is woken
append_event('while-down');
$t0 = time();
ok(wait_for_worker($pid), 'the worker is restarted');
my $new_pid = worker_pid();
isnt($new_pid, $pid, 'by a new process');
diag(sprintf('worker back after %.1f s', time() - $t0));
ok($node->log_contains(qr/background worker "cqrs_conf worker" \(PID $pid\) exited with exit code 1/),
	'the terminated worker exited with code 1 (so it is restarted)');
ok($node->poll_query_until('postgres', sequenced('while-down')),
	'the restarted worker sequences what was committed while it was down');
append_event('after-restart');
ok(poll_for($node, 'postgres', sequenced('after-restart'), 10),
	'and it still sequences new commits');
$pid = $new_pid;
check_dense('after a restart');

# --- SIGHUP: a new polling interval without a restart
# A committed prepared transaction wakes nobody: only the polling finds it.
sub commit_prepared_event
{
	my ($label) = @_;
	$node->safe_psql(
		'postgres', qq{
		BEGIN;
		SELECT cqrs.append('00000000-0000-4000-8000-0000000000bb', 'WorkerTest', NULL,
		                   '[{"type": "Tick", "data": {"label": "$label"}}]');
		PREPARE TRANSACTION 'p_$label';
		COMMIT PREPARED 'p_$label';
	});
}

# Let the worker finish its round and go to sleep first: after its last
# work it polls for 50 ms (with the same wait event) before it sleeps on
# its latch.
ok($node->poll_query_until('postgres',
	"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'"),
	'the worker sleeps');
usleep(500_000);
commit_prepared_event('prepared-1h');
sleep(2);
is($node->safe_psql('postgres', sequenced('prepared-1h')), 'f',
	'with a 1 h naptime, an event nobody woke the worker for waits');
$node->safe_psql('postgres', "ALTER SYSTEM SET cqrs_conf.worker_naptime = '200ms'");
$node->reload;
ok($node->poll_query_until('postgres', sequenced('prepared-1h')),
	'the reload wakes the worker');
is($node->safe_psql('postgres', 'SHOW cqrs_conf.worker_naptime'), '200ms',
	'the new naptime is in effect');
ok($node->poll_query_until('postgres',
	"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'"),
	'the worker sleeps again');
$t0 = time();
commit_prepared_event('prepared-200ms');
ok(poll_for($node, 'postgres', sequenced('prepared-200ms'), 10),
	'with the new naptime the worker finds it by polling');
my $elapsed = time() - $t0;
diag(sprintf('found by polling after %.0f ms', 1000 * $elapsed));
ok($elapsed < 10, 'well before the old naptime');
is(worker_pid(), $pid, 'without a worker restart');

# --- kill -9 of the worker: the postmaster restarts everything
my $inflight = $node->background_psql('postgres');
$inflight->query_safe(q{BEGIN; SELECT cqrs.append('00000000-0000-4000-8000-0000000000cc', 'WorkerTest', NULL,
	'[{"type": "Tick", "data": {"label": "in-flight"}}]')});
$node->safe_psql(
	'postgres', q{
	BEGIN;
	SELECT cqrs.append('00000000-0000-4000-8000-0000000000dd', 'WorkerTest', NULL,
	                   '[{"type": "Tick", "data": {"label": "prepared-across-crash"}}]');
	PREPARE TRANSACTION 'across_crash';
});
append_event("before-crash$_") for 1 .. 5;
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok($node->poll_query_until('postgres', 'SELECT true'), 'the server is back after the crash');
eval { $inflight->quit; };
ok(wait_for_worker($pid), 'the worker is back after the crash');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM cqrs.events WHERE global_position = 0"),
	'everything committed before the crash is sequenced');
$node->safe_psql('postgres', "COMMIT PREPARED 'across_crash'");
ok($node->poll_query_until('postgres', sequenced('prepared-across-crash')),
	'a transaction prepared before the crash and committed after it is sequenced');
append_event('after-crash');
ok($node->poll_query_until('postgres', sequenced('after-crash')),
	'new commits are sequenced after the crash');
is($node->safe_psql('postgres', "SELECT count(*) FROM cqrs.events WHERE data->>'label' = 'in-flight'"),
	'0', 'the transaction open at the crash left nothing');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM cqrs.events WHERE data->>'label' LIKE 'before-crash%' AND global_position > 0"),
	'5', 'the events committed before the crash are all there, sequenced');
check_dense('after a crash');

# --- the extension dropped and created again under the running worker
$pid = worker_pid();
$node->safe_psql('postgres', 'DROP EXTENSION cqrs_conf');
$node->safe_psql('postgres', 'CREATE EXTENSION cqrs_conf');
append_event('recreated');
ok($node->poll_query_until('postgres', sequenced('recreated')),
	'the worker sequences events of a re-created extension');
is(worker_pid(), $pid, 'without a restart');
check_dense('after re-creating the extension');

# A second worker instance (refused through shared memory) cannot be started
# from SQL: the worker is registered once, at postmaster start.
note('not covered: a second worker instance being refused');

$node->stop;
done_testing();
