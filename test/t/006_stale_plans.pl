# Cached plans follow tables that grow between two analyses.  A plan made
# while a table had one page (a sequential scan beats any index there) is
# planned again within a second, instead of reading the whole table at
# every key lookup until autovacuum next analyses it:
#  - in a session, the extension's own statements (cqrs.drain() recording
#    the outcome of each pending command: UPDATE cqrs.commands by key);
#  - in the background worker, every cached plan, a projection handler's
#    PL/pgSQL statements included, once the log has doubled (here from 10
#    to 2,010 events); and the worker runs without JIT.
# autovacuum is off, so no analysis replans anything behind our back: each
# check counts sequential scans that the stale plan would have made.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CqrsConfTest;

my $node = PostgreSQL::Test::Cluster->new('stale_plans');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'cqrs_conf'
cqrs_conf.database = ''
autovacuum = off
});
$node->start;

# --- In a session: the extension's statements are planned again. ---

$node->safe_psql('postgres', 'CREATE EXTENSION cqrs_conf');

my $enqueue =
  "SELECT count(cqrs.enqueue('ConfirmOrder', jsonb_build_object('orderId', gen_random_uuid())))"
  . " FROM generate_series(1, %d)";

# One session: a few commands handled while cqrs.commands has one page
# (analysed so), then 3,000 more, a pause longer than the replanning
# interval, and the drain counted in the transaction's own statistics.
my $scans = $node->safe_psql(
	'postgres', sprintf($enqueue, 3) . ";
VACUUM ANALYZE cqrs.commands;
SELECT cqrs.drain();
" . sprintf($enqueue, 3000) . ";
SELECT pg_sleep(1.2);
BEGIN;
SELECT cqrs.drain();
SELECT seq_scan || ' ' || idx_scan FROM pg_stat_xact_user_tables
 WHERE relid = 'cqrs.commands'::regclass;
COMMIT;");
my @lines = split /\n/, $scans;
my ($handled) = $lines[-2];
my ($seq, $idx) = split / /, $lines[-1];
is($handled, 3000, 'the session handled the 3,000 commands');
cmp_ok($seq, '<', 100,
	"recording their outcomes used the index, not the one-page plan ($seq sequential scans, $idx index scans)"
);

# --- In the worker: its handlers' plans too, and no JIT. ---

$node->safe_psql('postgres', 'CREATE DATABASE w');
$node->safe_psql(
	'w', q{
CREATE EXTENSION cqrs_conf;
CREATE TABLE rm (id integer PRIMARY KEY, hits integer NOT NULL DEFAULT 0);
CREATE TABLE worker_settings (jit text);
INSERT INTO rm VALUES (0);
VACUUM ANALYZE rm;
CREATE FUNCTION probe_handler(e cqrs.event) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.rm SET hits = hits + 1 WHERE id = (e.data->>'k')::integer;
    INSERT INTO public.worker_settings VALUES (current_setting('jit'));
END
$$;
SELECT cqrs.register_projection('probe', 'probe_handler(cqrs.event)', ARRAY['Probed']);
});
$node->append_conf('postgresql.conf', "cqrs_conf.database = 'w'");
$node->restart;

my $caught_up =
  "SELECT position = cqrs.last_position() AND cqrs.last_position() > 0"
  . " FROM cqrs.projections WHERE name = 'probe'";

sub append_probes
{
	my ($from, $to) = @_;
	$node->safe_psql('w',
		"SELECT cqrs.append(gen_random_uuid(), 'Probe', -1,"
		  . " jsonb_agg(jsonb_build_object('type', 'Probed', 'data', jsonb_build_object('k', k))))"
		  . " FROM generate_series($from, $to) k");
}

# Ten events while rm has one page: the handler's UPDATE gets a generic
# plan, a sequential scan.
append_probes(0, 0) for 1 .. 10;
ok(poll_for($node, 'w', $caught_up, 60), 'the worker ran the handler over the first events');

$node->safe_psql('w',
	'INSERT INTO rm SELECT g FROM generate_series(1, 20000) g');
sleep(2);    # past the replanning interval, and the worker's stats flushed

my $scans_of_rm =
  "SELECT seq_scan || ' ' || idx_scan FROM pg_stat_user_tables WHERE relname = 'rm'";
my ($seq0, $idx0) = split / /, $node->safe_psql('w', $scans_of_rm);

append_probes(1, 2000);
ok(poll_for($node, 'w', $caught_up, 120), 'the worker ran the handler over 2,000 more events');
ok( poll_for($node, 'w',
		"SELECT seq_scan + idx_scan >= $seq0 + $idx0 + 2000 FROM pg_stat_user_tables WHERE relname = 'rm'",
		30),
	"the worker's statistics arrived");
my ($seq1, $idx1) = split / /, $node->safe_psql('w', $scans_of_rm);
cmp_ok($seq1 - $seq0, '<', 100,
	    "the handler's key lookups used the index after rm grew ("
	  . ($seq1 - $seq0)
	  . " sequential scans, "
	  . ($idx1 - $idx0)
	  . " index scans)");
is($node->safe_psql('w', 'SELECT sum(hits) FROM rm'), '2010',
	'every event was applied once');
is( $node->safe_psql('w', 'SELECT string_agg(DISTINCT jit, \',\') FROM worker_settings'),
	'off',
	'the worker runs its statements without JIT');

$node->stop;
done_testing();
