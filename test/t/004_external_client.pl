# A real client outside the server (test/client/consumer.py, Python with
# Debian's python3-psycopg): it LISTENs on cqrs_events, polls its durable
# subscription on each notification and acknowledges, while pgbench
# registers orders (the process manager answers them through the worker)
# and appends events in transactions that half of the time roll back.  At
# the end it has read every committed event exactly once, in order.  A
# second consumer dies mid-batch and, restarted, resumes after its
# acknowledged position.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep);

my $python = '/usr/bin/python3';
plan skip_all => 'python3-psycopg is not installed'
  unless system($python, '-c', 'import psycopg') == 0;

my $node = PostgreSQL::Test::Cluster->new('client');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = 'postgres'
max_prepared_transactions = 4
});
$node->start;

my $conf = 'c0000000-0000-4000-8000-000000000001';
my $seat = 'a0000000-0000-4000-8000-00000000000a';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION cqrs_conf;
	INSERT INTO conference.conferences (id, name, description, location, start_date,
	       end_date, owner_name, owner_email, slug)
	VALUES ('$conf', 'Client Conf', 'd', 'l', '2030-01-01', '2030-01-02', 'o',
	        'o\@contoso.com', 'client_conf');
	INSERT INTO conference.seat_types (id, conference_id, name, description, quantity, price)
	VALUES ('$seat', '$conf', 'General', 'g', 100000, 10);
	SELECT conference.publish('$conf');
});

my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';
my $consumer = $ENV{PWD} . '/test/client/consumer.py';

sub start_consumer
{
	my ($name, @extra) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ $python, $consumer, '--dsn', $dsn, '--name', $name, '--timeout', '120', @extra ],
		'>', \$out, '2>', \$err);
	# wait for its "ready" line (it has subscribed and LISTENs)
	for (1 .. 300)
	{
		$h->pump_nb;
		last if $out =~ /"ready"/;
		usleep(50_000);
	}
	like($out, qr/"ready"/, "consumer $name is ready");
	return ($h, \$out, \$err);
}

sub result
{
	my ($out) = @_;
	my @lines = grep { /"events"/ } split /\n/, $$out;
	return decode_json($lines[-1]);
}

# The load is rate-limited: this test is about the delivery protocol, not
# about how fast the process manager serves one hot conference.
my ($h, $out, $err) = start_consumer('ext_main');

my $script = $node->basedir . '/load.sql';
open(my $fh, '>', $script) or die;
print $fh qq{\\set q random(1, 3)
\\set r random(0, 1)
SELECT cqrs.send('RegisterToConference', jsonb_build_object('orderId', gen_random_uuid(),
  'conferenceId', '$conf'::uuid, 'seats', jsonb_build_array(
  jsonb_build_object('seatType', '$seat'::uuid, 'quantity', :q))));
BEGIN;
SELECT cqrs.append(gen_random_uuid(), 'Noise', -1, '[{"type": "Tick", "data": {}}]');
SELECT CASE WHEN :r = 1 THEN 'ROLLBACK' ELSE 'COMMIT' END AS finish \\gset
:finish;
};
close $fh;

$node->command_ok(
	[
		'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', '4',
		'-j', '2', '-T', '4', '-R', '300', '-f', $script, 'postgres'
	],
	'pgbench load');

# the process manager's answers come through the worker; wait for them
ok($node->poll_query_until('postgres', q{
	SELECT NOT EXISTS (SELECT 1 FROM cqrs.commands WHERE status = 'pending' AND due_at IS NULL)
	   AND NOT EXISTS (SELECT 1 FROM cqrs.events WHERE global_position = 0)
	   AND NOT EXISTS (SELECT 1 FROM cqrs.projection_status WHERE lag_events > 0)}),
	'the worker has answered every order');
$node->safe_psql('postgres',
	q{SELECT cqrs.append(gen_random_uuid(), 'Control', -1, '[{"type": "ConsumerStop", "data": {}}]')});
ok($node->poll_query_until('postgres',
		'SELECT NOT EXISTS (SELECT 1 FROM cqrs.events WHERE global_position = 0)'),
	'the stop event is sequenced');

$h->finish;
is($h->result(0), 0, 'the consumer exits cleanly') or diag($$out . $$err);
my $r = result($out);
my $max = $node->safe_psql('postgres', 'SELECT max(global_position) FROM cqrs.events');
my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM cqrs.events');
is($r->{first}, 1, 'it read from the first event');
is($r->{last}, $max, 'to the last one');
is($r->{events}, $count, "every committed event ($count)");
is($r->{duplicates}, 0, 'none twice');
is($r->{gaps}, 0, 'in order, without gaps');
cmp_ok($r->{notifications}, '>', 0, "woken by notifications ($r->{notifications})");
my $reserved = $node->safe_psql('postgres',
	"SELECT count(*) FROM cqrs.events WHERE event_type = 'OrderReservationCompleted'");
cmp_ok($reserved, '>', 0, "the load included process manager round trips ($reserved)");
is($node->safe_psql('postgres', "SELECT acked_position FROM cqrs.subscriptions WHERE name = 'ext_main'"),
	$max, 'its acknowledged position is the last event (the stop event)');

# a consumer that dies mid-batch, then resumes after its acknowledged position
($h, $out, $err) = start_consumer('ext_crash', '--batch', '10', '--crash-after', '25');
$h->finish;
is($h->result(0), 3, 'the crashing consumer died after 25 events');
is($node->safe_psql('postgres', "SELECT acked_position FROM cqrs.subscriptions WHERE name = 'ext_crash'"),
	20, 'having acknowledged two batches of 10');
($h, $out, $err) = start_consumer('ext_crash');
$h->finish;
is($h->result(0), 0, 'the restarted consumer exits cleanly') or diag($$out . $$err);
$r = result($out);
is($r->{start}, 20, 'it resumed at the acknowledged position');
is($r->{first}, 21, 'with the next event');
is($r->{events}, $count - 20, 'and read the rest exactly once');
is($r->{duplicates} + $r->{gaps}, 0, 'in order');

$node->stop;
done_testing();
