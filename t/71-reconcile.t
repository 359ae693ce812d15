#!/usr/bin/perl
# lgspctl reconcile (SPEC §9, đối soát): a partner's own list against our
# audit records over the window its file covers.  Planted differences
# (missing on either side, status mismatches) are found, and nothing else;
# other partners' calls and calls outside the window are not reported;
# a bad file is refused with its line number.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use POSIX qw(strftime);
use Test::More;
use LGSP::Test;

my $t = LGSP::Test->new(workers => 1);
my $h = $t->home;

sub sql { $t->audit_sql(@_) }

# ---- our records: an hour of calls from two consumers to one provider,
# and calls of the same consumer before and after that hour
my $base = 1_772_000_000_000;      # a fixed UTC ms
my (@recs, $n);
sub rec {
    my (%r) = @_;
    $n++;
    my $r = { txn => sprintf('rcn%029d', $n), rid => "req-$n", start => $base,
              dur => 3000, corg => 'H26.108', csys => 'cons-sys', porg => 'H26.107',
              psys => 'prov-sys', service => 'citizen', version => 'v1', env => 'production',
              status => 200, up => 200, result => '00', reason => '', bytes_in => 10,
              bytes_out => 20, %r };
    push @recs, $r;
    return $r;
}
my @mine;
for my $i (0 .. 39) {
    my %k = (start => $base + $i * 90_000 + 123);
    %k = (%k, status => 403, up => 0, result => '01', reason => 'no_grant') if $i % 10 == 9;
    %k = (%k, status => 502, up => 502, result => '01') if $i % 10 == 4;
    push @mine, rec(%k);
    rec(start => $base + $i * 90_000 + 500, corg => 'H26.20', csys => 'other-sys');
}
my $before = rec(start => $base - 3_600_000);
my $after = rec(start => $base + 39 * 90_000 + 3_600_000);

my $file = "$h/records.tsv";
open my $fh, '>', $file or die;
print $fh join("\t", @$_{qw(txn rid start dur corg csys porg psys service version env
                            status up result reason bytes_in bytes_out)}), "\n" for @recs;
close $fh;
my ($rc, $out, $err) = $t->spoolgen('--tsv', $file);
is($rc, 0, 'records written') or diag($err);
ok($t->wait_until(sub { sql('SELECT count(*) FROM audit_records') == @recs }, 30), 'records ingested');

# ---- the partner's file
sub iso {
    my ($ms, $local) = @_;
    my $s = int($ms / 1000);
    return $local ? strftime('%Y-%m-%dT%H:%M:%S', gmtime($s + 7 * 3600))      # city time
                  : strftime('%Y-%m-%dT%H:%M:%S', gmtime($s)) . sprintf('.%03dZ', $ms % 1000);
}

sub write_csv {
    my ($name, $header, @rows) = @_;
    my $f = "$h/$name";
    open my $fh, '>', $f or die;
    print $fh "$header\n";
    print $fh "$_\n" for @rows;
    close $fh;
    return $f;
}

sub reconcile {
    my (@args) = @_;
    my ($rc, $out, $err) = $t->ctl('reconcile', '--json', @args);
    my $doc = eval { decode_json($out) };
    return ($rc, $doc, $err, $out);
}

# the consumer's view: every call of mine, by transaction id or by its
# own request id, with the status it received
my @rows;
for my $i (0 .. $#mine) {
    my $r = $mine[$i];
    my $id = $i % 3 == 0 ? ",$r->{rid}" : "$r->{txn},";
    push @rows, "$id," . iso($r->{start}, $i % 2) . ",$r->{status}";
}
my $agree = write_csv('agree.csv', 'transaction_id,request_id,time,status', @rows);
my ($code, $doc, $e) = reconcile($agree, '--as', 'consumer', 'H26.108');
is($code, 0, 'a consumer list that agrees: exit 0') or diag($e);
is($doc->{matched}, 40, 'every row matched');
is_deeply([@$doc{qw(missing_ours missing_theirs mismatched)}], [[], [], []], 'no difference');
($code, $doc) = reconcile($agree, '--as', 'consumer', 'cons-sys');
is($code, 0, 'the consumer named by its system id too');

# planted: two of ours left out of their file, two they have and we do
# not, two whose status they saw otherwise
my @planted = @rows;
my @left_out = map { $mine[$_]{txn} } (5, 22);
splice(@planted, 22, 1);
splice(@planted, 5, 1);
push @planted, 'ffffffffffffffffffffffffffffffff,,' . iso($base + 600_000, 0) . ',200';
push @planted, ',their-only-1,' . iso($base + 700_000, 0) . ',200';
my @mism = (1, 30);
for my $i (@mism) {
    $planted[$i - ($i > 22) - ($i > 5)] =~ s/,(\d+)$/,299/ or die;
}
my $diff = write_csv('diff.csv', 'time,status,transaction_id,request_id',
    map { my @f = split /,/, $_, -1; join ',', @f[2, 3, 0, 1] } @planted);
($code, $doc, $e) = reconcile($diff, '--as', 'consumer', 'H26.108');
is($code, 1, 'differences: exit 1') or diag($e);
is_deeply([sort map { $_->{transaction_id} } @{ $doc->{missing_theirs} }], [sort @left_out],
          'exactly the two calls left out of their list');
is_deeply([sort map { $_->{transaction_id} || $_->{request_id} } @{ $doc->{missing_ours} }],
          [sort('ffffffffffffffffffffffffffffffff', 'their-only-1')],
          'exactly the two calls we never saw');
is_deeply([sort map { $_->{transaction_id} } @{ $doc->{mismatched} }],
          [sort map { $mine[$_]{txn} } @mism], 'exactly the two status mismatches');
is_deeply([sort map { "$_->{our_status}/$_->{their_status}" } @{ $doc->{mismatched} }],
          [sort map { "$mine[$_]{status}/299" } @mism], 'with both statuses');
my $text = $t->slurp("$h/ctl.stdout");
($code, undef, undef) = (0);
my ($trc, $tout) = $t->ctl('reconcile', $diff, '--as', 'consumer', 'H26.108');
is($trc, 1, 'table output: exit 1 too');
like($tout, qr/^missing-theirs\s+$left_out[0]/m, 'table: missing on their side');
like($tout, qr/^missing-ours\s+-\s+their-only-1/m, 'table: missing on ours');
like($tout, qr/2 missing in our log, 2 missing in theirs, 2 status mismatches/, 'table: summary');

# without --as, the other consumer's calls in the window are ours only
($code, $doc) = reconcile($agree);
is($code, 1, 'without --as every call in the window counts');
is(scalar @{ $doc->{missing_theirs} }, 40, "the other consumer's 40 calls");
ok(!grep({ $_->{transaction_id} eq $before->{txn} || $_->{transaction_id} eq $after->{txn} }
         @{ $doc->{missing_theirs} }), 'nothing outside the window');

# an explicit window takes in the call an hour after
($code, $doc) = reconcile($agree, '--as', 'consumer', 'H26.108', '--until',
                          iso($after->{start} + 1000, 0));
is_deeply([map { $_->{transaction_id} } @{ $doc->{missing_theirs} }], [$after->{txn}],
          '--until widens the window');

# the provider's view: it saw only the calls we forwarded, with the status
# it answered; the gateway's denials never reached it
my @prov = map { my $r = $_; "$r->{txn}," . iso($r->{start}, 0) . ",$r->{up}" }
           grep { $_->{up} } @mine;
my $pf = write_csv('prov.csv', 'transaction_id,time,status', @prov);
($code, $doc, $e) = reconcile($pf, '--as', 'provider', 'H26.107');
is($code, 1, 'provider: the other consumer\'s calls to it are in our log');
# their window ends with the last call forwarded to them (call 38: 39 is
# a denial), so the other consumer's 39th call falls outside it
is(scalar @{ $doc->{missing_theirs} }, 39, 'exactly those in the window');
ok(!grep({ my $x = $_->{transaction_id}; grep { $_->{txn} eq $x } @mine } @{ $doc->{missing_theirs} }),
   'and none of the listed consumer\'s');
is_deeply($doc->{mismatched}, [], 'upstream statuses agree');
my @forwarded_all = map { "$_->{txn}," . iso($_->{start}, 0) . ",$_->{up}" }
                    grep { $_->{up} && $_->{start} >= $base && $_->{start} < $base + 3_600_000 } @recs;
($code, $doc) = reconcile(write_csv('prov-all.csv', 'transaction_id,time,status', @forwarded_all),
                          '--as', 'provider', 'prov-sys');
is($code, 0, 'provider: every forwarded call listed: agree');

# ---- bad files: exit 2 with the line
my @bad = (
    ['empty.csv', undef, qr/:1: no header/],
    ['nohead.csv', "$mine[0]{txn},2026-01-01T00:00:00Z,200", qr/:1: unknown column/],
    ['fewcols.csv', "transaction_id,status\nx,200", qr/:1: the header needs/],
    ['time.csv', "transaction_id,time,status\n$mine[0]{txn},2026-01-01T00:00:00Z,200\n"
               . "$mine[1]{txn},yesterday,200", qr/:3: time "yesterday"/],
    ['status.csv', "transaction_id,time,status\n$mine[0]{txn},2026-01-01T00:00:00Z,OK", qr/:2: status "OK"/],
    ['noid.csv', "transaction_id,request_id,time,status\n,,2026-01-01T00:00:00Z,200", qr/:2: neither/],
    ['dup.csv', "transaction_id,time,status\n$mine[0]{txn},2026-01-01T00:00:00Z,200\n"
              . "x1,2026-01-01T00:00:00Z,200\n$mine[0]{txn},2026-01-01T00:00:01Z,200",
     qr/:4: the same transaction as line 2/],
    ['quote.csv', "transaction_id,time,status\n\"abc,2026-01-01T00:00:00Z,200", qr/:2: broken quoting/],
    ['cols.csv', "transaction_id,time,status\nabc,2026-01-01T00:00:00Z", qr/:2: 3 columns expected/],
    ['badid.csv', "transaction_id,time,status\nab c,2026-01-01T00:00:00Z,200", qr/:2: "ab c" is not/],
);
for my $b (@bad) {
    my ($name, $body, $re) = @$b;
    my $f = "$h/$name";
    open my $fh, '>', $f or die; print $fh $body // ''; print $fh "\n" if defined $body; close $fh;
    my ($rc, $out, $err) = $t->ctl('reconcile', $f);
    is($rc, 2, "$name: exit 2");
    like($err, qr/\Q$f\E$re/, "$name: says where") or diag($err);
}
# quoted fields are CSV too
my $q = write_csv('quoted.csv', '"transaction_id","time","status"',
                  map { my $r = $_; qq{"$r->{txn}","} . iso($r->{start}, 0) . qq{","$r->{status}"} } @mine);
($code, $doc) = reconcile($q, '--as', 'consumer', 'H26.108');
is($code, 0, 'quoted CSV agrees');

for my $u (['--as', 'consumer'], ['--as', 'owner', 'x', $agree], [], [$agree, $pf],
           [$agree, '--bogus'], [$agree, '--since', 'soon']) {
    my ($rc) = $t->ctl('reconcile', @$u);
    is($rc, 2, "reconcile @$u: bad usage");
}
my ($mrc, undef, $merr) = $t->ctl('reconcile', "$h/nosuch.csv");
is($mrc, 1, 'a missing file: refused');
like($merr, qr/nosuch\.csv: No such file/, 'and says so');

$t->stop;
done_testing;
