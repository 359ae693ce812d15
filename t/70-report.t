#!/usr/bin/perl
# lgspctl report daily|monthly (SPEC §9): a fixture month of records goes
# through the real spool and ingester; what the report says per consumer
# agency, provider agency and service version is checked against counts
# this test computes itself over the records it wrote.  City days (UTC+7)
# decide which day and month a record belongs to.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use List::Util qw(sum0);
use POSIX qw(ceil);
use Test::More;
use Time::Local qw(timegm);
use LGSP::Test;

my $t = LGSP::Test->new(workers => 1);
my $h = $t->home;

sub sql { $t->audit_sql(@_) }

# ---- the fixture: deterministic pseudo-random records over March 2026
srand(20260301);
my @consumers = ('H26.108', 'H26.20', '');          # '' = no valid token
my @providers = (['H26.107', 'prov-sys', 'citizen', 'v1'],
                 ['H26.107', 'prov-sys', 'citizen', 'v2'],
                 ['H26.30', 'hotich-sys', 'hotich', 'v1']);
my @reasons = qw(no_grant rate_limited upstream_timeout quota_exceeded);
my $month_start = timegm(0, 0, 0, 1, 2, 2026) - 7 * 3600;   # 2026-03-01 00:00 +07
my $month_end = timegm(0, 0, 0, 1, 3, 2026) - 7 * 3600;     # 2026-04-01 00:00 +07

my (@recs, $n);
sub rec {
    my (%r) = @_;
    $n++;
    push @recs, {
        txn => sprintf('rpt%029d', $n), rid => "r-$n", env => 'production',
        status => 200, up => 200, result => '00', reason => '',
        bytes_in => 100 + $n % 50, bytes_out => 1000 + $n % 300, %r,
    };
}

for (1 .. 5000) {
    my $c = $consumers[int rand @consumers];
    my $p = $providers[int rand @providers];
    my $start = ($month_start + int rand($month_end - $month_start)) * 1000 + int rand 1000;
    # durations over three orders of magnitude, so percentiles differ
    my $dur = int(500 + rand(1) ** 3 * 3_000_000);
    my %r = (start => $start, dur => $dur, corg => $c, csys => $c ? "sys-$c" : '',
             porg => $p->[0], psys => $p->[1], service => $p->[2], version => $p->[3],
             env => rand() < 0.1 ? 'sandbox' : 'production');
    my $k = rand;
    if ($c eq '') {
        %r = (%r, status => 401, up => 0, result => '01', reason => 'missing_token');
    } elsif ($k < 0.15) {
        my $why = $reasons[int rand @reasons];
        %r = (%r, status => $why eq 'no_grant' ? 403 : $why eq 'upstream_timeout' ? 504 : 429,
              up => 0, result => '01', reason => $why);
    } elsif ($k < 0.22) {
        %r = (%r, status => 500, up => 500, result => '01');   # the provider's own failure
    }
    rec(%r);
}
# the edges of city days and of the month (UTC+7)
my $d1 = timegm(0, 0, 0, 1, 2, 2026) - 7 * 3600;               # 2026-03-01 00:00 +07
rec(start => ($d1 - 1) * 1000 + 999, dur => 2000, corg => 'H26.108', csys => 'c',
    porg => 'H26.107', psys => 'p', service => 'citizen', version => 'v1');  # Feb 28
rec(start => $d1 * 1000, dur => 2000, corg => 'H26.108', csys => 'c',
    porg => 'H26.107', psys => 'p', service => 'citizen', version => 'v1');  # Mar 1
rec(start => ($d1 + 86400) * 1000 - 1, dur => 2000, corg => 'H26.108', csys => 'c',
    porg => 'H26.107', psys => 'p', service => 'citizen', version => 'v1');  # Mar 1, last ms
rec(start => ($month_end) * 1000, dur => 2000, corg => 'H26.108', csys => 'c',
    porg => 'H26.107', psys => 'p', service => 'citizen', version => 'v1');  # Apr 1

my $file = "$h/records.tsv";
open my $fh, '>', $file or die;
for my $r (@recs) {
    print $fh join("\t", @$r{qw(txn rid start dur corg csys porg psys service version env
                                status up result reason bytes_in bytes_out)}), "\n";
}
close $fh;

my ($rc, $out, $err) = $t->spoolgen('--tsv', $file);
is($rc, 0, 'records written to the spool') or diag($err);
is($out, scalar(@recs) . "\n", 'every record written');
ok($t->wait_until(sub { sql('SELECT count(*) FROM audit_records') == @recs }, 60),
   'every record ingested') or diag(sql('SELECT count(*) FROM audit_records'));

# ---- what the report must say, computed here from @recs
sub city_day {
    my ($ms) = @_;
    my @g = gmtime(int($ms / 1000) + 7 * 3600);
    return sprintf('%04d-%02d-%02d', $g[5] + 1900, $g[4] + 1, $g[3]);
}

sub expect {
    my ($filter) = @_;
    my %g;
    for my $r (grep { $filter->($_) } @recs) {
        my $k = join '|', @$r{qw(corg porg service version)};
        my $e = $g{$k} //= { calls => 0, successes => 0, failures => 0, denials => {},
                             bytes_in => 0, bytes_out => 0, durs => [] };
        $e->{calls}++;
        $e->{ $r->{result} eq '00' ? 'successes' : 'failures' }++;
        $e->{denials}{ $r->{reason} }++ if $r->{reason} ne '';
        $e->{bytes_in} += $r->{bytes_in};
        $e->{bytes_out} += $r->{bytes_out};
        push @{ $e->{durs} }, $r->{dur};
    }
    return \%g;
}

sub true_pct {
    my ($durs, $q) = @_;
    my @s = sort { $a <=> $b } @$durs;
    my $rank = ceil($q * @s);
    $rank = 1 if $rank < 1;
    return $s[$rank - 1];
}

sub check_report {
    my ($name, $got, $want) = @_;
    my %rows = map { (join '|', @$_{qw(consumer_org provider_org service version)}) => $_ }
               @{ $got->{rows} };
    is_deeply([sort keys %rows], [sort keys %$want], "$name: one row per consumer, provider, version");
    my $total = 0;
    for my $k (sort keys %$want) {
        my ($g, $e) = ($rows{$k}, $want->{$k});
        next unless $g;
        $total += $e->{calls};
        is($g->{$_}, $e->{$_}, "$name $k: $_") for qw(calls successes failures bytes_in bytes_out);
        is_deeply($g->{denials}, $e->{denials}, "$name $k: denials by reason");
        # the histogram's answer is at or above the true percentile, and
        # less than one bucket (2^(1/4)) above it
        for my $q ([p50 => 0.50], [p95 => 0.95], [p99 => 0.99]) {
            my $true = true_pct($e->{durs}, $q->[1]);
            my $rep = $g->{latency_ms}{ $q->[0] } * 1000;
            ok($rep >= $true - 0.5 && $rep < $true * 1.1893 + 1,
               "$name $k: $q->[0] $rep µs for a true $true µs");
        }
        my $max = (sort { $b <=> $a } @{ $e->{durs} })[0];
        is($g->{latency_ms}{max} * 1000, $max, "$name $k: max latency");
    }
    is($got->{total}{calls}, $total, "$name: total calls");
}

sub report {
    my (@args) = @_;
    my ($rc, $out, $err) = $t->ctl('report', @args);
    is($rc, 0, "report @args") or diag($err);
    return $out;
}

my $month = decode_json(report('monthly', '--date', '2026-03-15', '--format', 'json'));
is($month->{from}, '2026-03-01', 'monthly: from the first');
is($month->{to}, '2026-03-31', 'monthly: to the last day');
check_report('March', $month, expect(sub {
    $_[0]{start} >= $month_start * 1000 && $_[0]{start} < $month_end * 1000
        && $_[0]{env} eq 'production' }));

my $sbx = decode_json(report('monthly', '--date', '2026-03', '--env', 'sandbox', '--json'));
check_report('March sandbox', $sbx, expect(sub {
    $_[0]{start} >= $month_start * 1000 && $_[0]{start} < $month_end * 1000
        && $_[0]{env} eq 'sandbox' }));

for my $day ('2026-03-01', '2026-03-17', '2026-03-31') {
    my $r = decode_json(report('daily', '--date', $day, '--json'));
    check_report($day, $r, expect(sub { city_day($_[0]{start}) eq $day && $_[0]{env} eq 'production' }));
}
# the edge records: 23:59:59.999 +07 on Feb 28 and 00:00 +07 on Apr 1
my $feb = decode_json(report('daily', '--date', '2026-02-28', '--json'));
is($feb->{total}{calls}, 1, 'the last millisecond of Feb 28 (city time) is in Feb 28');
my $apr = decode_json(report('monthly', '--date', '2026-04-01', '--json'));
is($apr->{total}{calls}, 1, 'midnight of Apr 1 (city time) is in April');

# CSV and table carry the same numbers
my @csv = split /\n/, report('monthly', '--date', '2026-03-01', '--format', 'csv');
is($csv[0], 'consumer_org,provider_org,service,version,calls,successes,failures,denied,'
          . 'p50_ms,p95_ms,p99_ms,bytes_in,bytes_out,denials', 'CSV header');
is(scalar(@csv) - 1, scalar @{ $month->{rows} }, 'a CSV line per row');
my ($line) = grep { /^"H26\.108","H26\.107","citizen","v1",/ } @csv;
my ($jrow) = grep { $_->{consumer_org} eq 'H26.108' && $_->{version} eq 'v1'
                    && $_->{service} eq 'citizen' } @{ $month->{rows} };
my @f = split /,/, $line, -1;
is($f[4], $jrow->{calls}, 'CSV calls as JSON');
is($f[9], sprintf('%.3f', $jrow->{latency_ms}{p95}), 'CSV p95 as JSON');
my $table = report('monthly', '--date', '2026-03-01');
like($table, qr/^monthly report 2026-03-01 to 2026-03-31, production/m, 'table title');
like($table, qr/^TOTAL\s+$month->{total}{calls}\s/m, 'table total');
like($table, qr/^-\s+H26\.107\s+citizen\/v1\s+\d+.*missing_token=\d+/m,
     'calls without a consumer show as -');

# an empty day
my $empty = decode_json(report('daily', '--date', '2025-01-01', '--json'));
is_deeply($empty->{rows}, [], 'a day without calls: no rows');
is($empty->{total}{calls}, 0, 'and zero calls');

# ---- refusals
for my $bad (['daily', '--date', '2026-02-30'], ['daily', '--date', 'yesterday'],
             ['daily', '--format', 'xml'], ['weekly'], ['daily', '--env', 'staging'],
             ['daily', 'extra'], ['daily', '--bogus']) {
    my ($rc, undef, $err) = $t->ctl('report', @$bad);
    is($rc, 2, "report @$bad: bad usage");
    like($err, qr/lgspctl|usage/, 'and says why');
}

# ---- summaries are kept in the records' transaction: same totals
is(sql("SELECT sum(calls) FROM audit_daily"), scalar(@recs), 'summaries count every record once');
is(sql("SELECT sum(count) FROM audit_daily_latency"), scalar(@recs), 'and every duration once');
is(sql("SELECT sum(count) FROM audit_daily_reasons"),
   scalar(grep { $_->{reason} ne '' } @recs), 'and every denial once');

$t->stop;
done_testing;
