# Crash safety of the worker's duties (the registration process manager,
# its timers, the event -> command handlers, durable subscriptions) with a
# real cluster and the background worker on:
#   1. kill -9 of the worker while pgbench registers orders (the worker is
#      always in the middle of a batch then); the postmaster restarts
#      everything;
#   2. an immediate shutdown under the same load, then a start;
#   3. more load after the restart.
# Short timings (reservation window 6 s, expiry buffer 2 s) make every
# order expire within seconds, so the timers scheduled before the crashes
# must fire after them.  At the end every committed RegisterToConference
# has exactly one process, at most one reservation, exactly one expiry and
# one release, the seats are all back, nothing is pending or rejected, and
# a subscription acknowledged before the crashes resumes after its
# acknowledged position and reads every event exactly once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('pm_crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = 'postgres'
cqrs_conf.worker_naptime = '100ms'
cqrs_conf.reservation_window = '6s'
cqrs_conf.pm_expiration_buffer = '2s'
restart_after_crash = on
max_prepared_transactions = 4
});
$node->start;

my $conf = 'c0000000-0000-4000-8000-000000000001';
my $seat = 'a0000000-0000-4000-8000-00000000000a';
my $capacity = 100000;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION cqrs_conf;
	INSERT INTO conference.conferences (id, name, description, location, start_date,
	       end_date, owner_name, owner_email, slug)
	VALUES ('$conf', 'Crash Conf', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
	        'o\@contoso.com', 'crash_conf');
	INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
	VALUES ('$seat', '$conf', 'General', 'g', $capacity, 10);
	SELECT conference.publish('$conf');
	SELECT cqrs.subscribe('crash_sub');
});

my $remaining_sql = qq{
	SELECT coalesce((SELECT (s->>'quantity')::int
	  FROM jsonb_array_elements(cqrs.load(cqrs.derived_stream_id('SeatsAvailability', '$conf'))
	                            ->'state'->'remainingSeats') s
	 WHERE s->>'seatType' = '$seat'), -1)};

# SeatCreated -> AddSeats through the worker alone
ok($node->poll_query_until('postgres', "SELECT ($remaining_sql) = $capacity"),
	'the worker announced the seat type to SeatsAvailability');

my $script = $node->basedir . '/register.sql';
open(my $fh, '>', $script) or die;
print $fh qq{\\set q random(1, 3)
SELECT cqrs.send('RegisterToConference', jsonb_build_object('orderId', gen_random_uuid(),
  'conferenceId', '$conf'::uuid, 'seats', jsonb_build_array(
  jsonb_build_object('seatType', '$seat'::uuid, 'quantity', :q))));
};
close $fh;

sub start_load
{
	my ($seconds) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-h', $node->host, '-p', $node->port,
			'-c', '4', '-j', '2', '-R', '200', '-T', $seconds, '-f', $script,
			'postgres'
		],
		'>', \$out, '2>', \$err);
	return $h;
}

sub orders
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM cqrs.events WHERE event_type = 'OrderPlaced'");
}

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'");
}

sub wait_for_worker
{
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'cqrs_conf worker'");
}

ok(wait_for_worker(), 'the worker runs');

# --- 1. kill -9 of the worker under load (200 orders/s)
my $h = start_load(8);
usleep(2_500_000);
my $before_kill = orders();
my $pid = worker_pid();
ok($pid, "worker PID $pid before the kill");
kill 'KILL', $pid;
$h->finish;    # pgbench loses its connections in the crash restart
ok($node->poll_query_until('postgres', 'SELECT true'), 'the server is back after kill -9');
ok(wait_for_worker(), 'and so is the worker');
cmp_ok($before_kill, '>', 10, "orders committed before the kill: $before_kill");

# the external consumer reads and acknowledges a first part
my $acked = $node->safe_psql('postgres', q{
	SELECT cqrs.ack('crash_sub', max(global_position))
	  FROM cqrs.poll('crash_sub', 50)});
cmp_ok($acked, '>', 0, "subscription acknowledged up to $acked");

# --- 2. immediate shutdown under load
$h = start_load(8);
usleep(2_500_000);
$node->stop('immediate');
$h->finish;
$node->start;
ok(wait_for_worker(), 'the worker runs after an immediate shutdown');

# --- 3. load after the restart
$h = start_load(2);
$h->finish;
my $n = orders();
note "orders committed: $n";

# Every order expires about 8 s after it was placed: wait for all the
# timers, and for the commands and projections to settle.
my $settled = qq{
	SELECT (SELECT count(*) FROM cqrs.events WHERE event_type = 'OrderPlaced')
	     = (SELECT count(*) FROM cqrs.events WHERE event_type = 'OrderExpired')
	   AND NOT EXISTS (SELECT 1 FROM cqrs.commands WHERE status = 'pending')
	   AND NOT EXISTS (SELECT 1 FROM cqrs.events WHERE global_position = 0)
	   AND NOT EXISTS (SELECT 1 FROM cqrs.projection_status
	                    WHERE lag_events > 0 AND state <> 'stopped')};
ok($node->poll_query_until('postgres', $settled),
	'every order expired and nothing is left pending');

is($node->safe_psql('postgres',
		"SELECT count(*) FROM cqrs.commands WHERE command_type = 'RegisterToConference' AND status = 'accepted'"),
	$n, 'one logged RegisterToConference per placed order');
is($node->safe_psql('postgres', 'SELECT count(*) FROM conference.registration_processes'),
	$n, 'exactly one process per order');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM conference.registration_processes WHERE NOT completed'),
	0, 'every process completed');

# per order: OrderPlaced 1, OrderExpired 1, reservation replies at most 1,
# and as many releases as reservations; the order's reservation events
# match the SeatsAvailability replies
my $bad = $node->safe_psql('postgres', q{
	WITH o AS (
	  SELECT stream_id AS id,
	         count(*) FILTER (WHERE event_type = 'OrderPlaced') AS placed,
	         count(*) FILTER (WHERE event_type = 'OrderExpired') AS expired,
	         count(*) FILTER (WHERE event_type IN ('OrderReservationCompleted',
	                                               'OrderPartiallyReserved')) AS marked
	    FROM cqrs.events WHERE stream_type = 'Order' GROUP BY 1),
	s AS (
	  SELECT (data->>'reservationId')::uuid AS id,
	         count(*) FILTER (WHERE event_type = 'SeatsReserved') AS reserved,
	         count(*) FILTER (WHERE event_type = 'SeatsReservationCancelled') AS cancelled,
	         count(*) FILTER (WHERE event_type = 'SeatsReservationCommitted') AS committed
	    FROM cqrs.events WHERE stream_type = 'SeatsAvailability'
	     AND data ? 'reservationId' GROUP BY 1)
	SELECT count(*) FROM o LEFT JOIN s USING (id)
	 WHERE placed <> 1 OR expired <> 1 OR marked > 1
	    OR coalesce(reserved, 0) <> marked OR coalesce(cancelled, 0) <> marked
	    OR coalesce(committed, 0) <> 0});
is($bad, 0, 'every order: placed once, reserved at most once, expired once, released once');

my $reserved = $node->safe_psql('postgres',
	"SELECT count(*) FROM cqrs.events WHERE event_type = 'OrderReservationCompleted'");
cmp_ok($reserved, '>', $n / 2, "most orders were reserved before they expired ($reserved of $n)");

is($node->safe_psql('postgres', $remaining_sql), $capacity, 'every seat is back');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT payload->>'reservationId' FROM cqrs.commands
	  WHERE command_type = 'MakeSeatReservation'
	  GROUP BY payload->>'reservationId' HAVING count(*) > 1) x}),
	0, 'at most one MakeSeatReservation per order');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM cqrs.commands WHERE status = 'rejected'"),
	0, 'no command was rejected');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM cqrs.projections WHERE state <> 'running'"),
	0, 'every projection is running');
is($node->safe_psql('postgres', q{
	SELECT count(*) = max(global_position) AND count(DISTINCT global_position) = count(*)
	  FROM cqrs.events}),
	't', 'positions are dense');

# the subscription resumes after its acknowledged position
is($node->safe_psql('postgres', "SELECT min(global_position) FROM cqrs.poll('crash_sub', 10)"),
	$acked + 1, 'the subscription resumes after the acknowledged position');
my $read = 0;
my $last = $acked;
my $in_order = 1;
while (1)
{
	my $rows = $node->safe_psql('postgres',
		"SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM cqrs.poll('crash_sub', 1000)");
	last if $rows eq '';
	for my $p (split /,/, $rows)
	{
		$in_order = 0 if $p != $last + 1;
		$last = $p;
		$read++;
	}
	$node->safe_psql('postgres', "SELECT cqrs.ack('crash_sub', $last)");
}
my $max = $node->safe_psql('postgres', 'SELECT max(global_position) FROM cqrs.events');
ok($in_order, 'the rest of the log is read once, in order, without gaps');
is($last, $max, 'up to the last event');

$node->stop;
done_testing();
