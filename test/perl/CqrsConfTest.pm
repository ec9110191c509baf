# Helpers shared by the TAP tests in test/t.
package CqrsConfTest;

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(time usleep);

our @EXPORT = qw(poll_for);

# Wait until $sql, run in database $db of $node, returns true, for at most
# $limit seconds: shorter than poll_query_until's three minutes, for things
# that must happen quickly, so that a failure does not wait long.  Returns
# whether it did.
sub poll_for
{
	my ($node, $db, $sql, $limit) = @_;
	my $deadline = time() + $limit;
	while (time() < $deadline)
	{
		return 1 if $node->safe_psql($db, $sql) eq 't';
		usleep(100_000);
	}
	return 0;
}

1;
