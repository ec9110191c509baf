# A crash in the middle of a numbering.  The sequencer writes positions
# into the rows in place, which a crash does not undo: after the restart
# the log holds positions beyond cqrs.sequencer_state.last_position (and
# index entries whose rows may still hold 0).  Readers must not see them
# until the next sequencer step has adopted them; then every event has
# exactly one position, positions are dense, the interrupted batch's
# events keep the positions they had, and every index of the log is
# complete (amcheck).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('position_crash');
$node->init;
# No worker: this test runs the sequencer itself.
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = ''
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cqrs_conf; CREATE EXTENSION amcheck;');

my $streams = 0;

# One transaction appending 150,000 events (150 streams of 1,000).
sub append_backlog
{
	my $first = $streams + 1;
	$streams += 150;
	$node->safe_psql(
		'postgres', qq{
		SELECT count(cqrs.append(md5('crash-' || g)::uuid, 'CrashTest', -1,
		       (SELECT jsonb_agg(jsonb_build_object('type', 'Tick', 'data',
		                         jsonb_build_object('i', i)))
		          FROM generate_series(1, 1000) i)))
		  FROM generate_series($first, $streams) g;
	});
}

my $tentative = 0;
my $attempt = 0;
my $last;
while ($tentative == 0 && $attempt < 3)
{
	$attempt++;
	append_backlog();
	$last = $node->safe_psql('postgres',
		'SELECT last_position FROM cqrs.sequencer_state');

	# Number the whole backlog in one batch, in the background.
	my ($out, $err) = ('', '');
	my $numbering = IPC::Run::start(
		[
			'psql', '-X', '-q', '-d', $node->connstr('postgres'),
			'-c', 'SELECT cqrs.sequence_events(1000000)'
		],
		'>', \$out, '2>', \$err);

	# As soon as the first positions are in the rows (visible at once:
	# a write in place is not transactional), flush the WAL written so far
	# (a commit does) and crash the server.
	$node->safe_psql(
		'postgres', qq{
		SET enable_indexscan = off; SET enable_bitmapscan = off;
		DO \$\$
		BEGIN
		    FOR i IN 1 .. 60000 LOOP
		        EXIT WHEN EXISTS (SELECT 1 FROM cqrs.events WHERE global_position > $last);
		        PERFORM pg_sleep(0.001);
		    END LOOP;
		END \$\$;
		SELECT pg_current_xact_id() IS NOT NULL;
	});
	$node->stop('immediate');
	IPC::Run::finish($numbering);
	$node->start;

	# Read the rows themselves: an index scan on the position would return
	# the rows of entries whose position is not written yet (with 0).
	$tentative = $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off;
		 SELECT count(*) FROM cqrs.events e, cqrs.sequencer_state s WHERE e.global_position > s.last_position"
	);
	note "attempt $attempt: $tentative events carry positions beyond the last committed one after the crash";
}
cmp_ok($tentative, '>', 0,
	'the crash left positions written in place beyond the last committed position');

my $state_last = $node->safe_psql('postgres',
	'SELECT last_position FROM cqrs.sequencer_state');
is($state_last, $last, 'the interrupted batch did not commit its last position');

# Index entries beyond the last position whose rows still hold 0 (an index
# scan does not recheck the key against the row).
my $indexed = $node->safe_psql(
	'postgres', qq{
	SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*) FROM cqrs.events WHERE global_position > $last AND global_position > 0;
});
note "index entries beyond the last position: $indexed; rows with such a position: $tentative";

is( $node->safe_psql('postgres', "SELECT count(*) FROM cqrs.read_all($last, 1000000)"),
	'0', 'readers see none of the interrupted batch');

$node->safe_psql(
	'postgres', qq{
	SET enable_indexscan = off; SET enable_bitmapscan = off;
	CREATE TABLE before_adoption AS
	SELECT event_id, global_position FROM cqrs.events WHERE global_position > $last;
});

# The next steps adopt the interrupted batch and number the rest.
$node->safe_psql('postgres', 'SELECT cqrs.drain()');

my $total = 150_000 * $attempt;
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*) || ' ' || count(*) FILTER (WHERE global_position = 0) || ' '
		       || count(DISTINCT global_position) || ' ' || min(global_position) || ' '
		       || max(global_position)
		  FROM cqrs.events}),
	"$total 0 $total 1 $total",
	'every event has exactly one position, dense from 1');
is($node->safe_psql('postgres', 'SELECT last_position FROM cqrs.sequencer_state'),
	$total, 'the sequencer state agrees');
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*) FROM before_adoption b JOIN cqrs.events e USING (event_id)
		 WHERE e.global_position <> b.global_position}),
	'0', 'the interrupted batch kept the positions it had written');
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*) || ' ' || count(DISTINCT global_position) || ' '
		       || bool_and(global_position = n)
		  FROM (SELECT global_position, row_number() OVER (ORDER BY global_position) AS n
		          FROM cqrs.read_all(0, 10000000)) r}),
	"$total $total true",
	'read_all returns every event once, in order');
is( $node->safe_psql(
		'postgres', q{
		SELECT bool_and(bt_index_check(c.oid, true) IS NOT NULL)
		  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		 WHERE i.indrelid = 'cqrs.events'::regclass}),
	't', 'every index of the log is complete (amcheck, heapallindexed)');

$node->stop;
done_testing();
