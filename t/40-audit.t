#!/usr/bin/perl
# The audit log (SPEC §9): spool → audit.db exactly once through kill -9 of
# lgspd and of a writer; tamper evidence (verify names the record; a
# recomputed chain fails on the signature); list/export filters; backlog.
# Records come from a spool writer that works as an nginx worker does
# (build/t/bin/spoolgen, a test tool), so this runs before the
# data path writes real ones.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use LGSP::Test;

my $t = LGSP::Test->new(workers => 1);
my $h = $t->home;
my $SPOOLGEN = $LGSP::Test::SPOOLGEN;

sub sql { $t->audit_sql(@_) }

sub count { sql("SELECT count(*) FROM audit_records" . ($_[0] ? " WHERE $_[0]" : '')) }
# The spool's segments, less the open ones of live nginx workers (each
# worker keeps one while it serves; this test's records come from its own
# writer).
sub spool_files {
    opendir my $d, "$h/spool" or die;
    return grep {
        my ($pid) = /^seg\.(\d+)\./;
        !/^\./ && !($pid && kill(0, $pid) && (`cat /proc/$pid/comm 2>/dev/null` =~ /^nginx/));
    } readdir $d;
}

# a writer in the background; its stdout in a file
sub writer {
    my ($name, @args) = @_;
    my $out = "$h/$name.out";
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', $out; open STDERR, '>', "$h/$name.err";
        exec $SPOOLGEN, @args or die;
    }
    return ($pid, $out);
}

sub settled {
    my ($n, $timeout) = @_;
    return $t->wait_until(sub { count() == $n && !spool_files() }, $timeout // 30);
}

# ---- N records, every field, segments deleted once sealed and ingested
{
    my ($pid, $out) = writer('w1', 500, '--tag', 'a', '--seg-size', 65536);
    waitpid $pid, 0;
    is($? >> 8, 0, 'writer wrote 500 records, none dropped');
    ok(settled(500), 'exactly 500 rows in audit.db, spool emptied')
        or diag("rows " . count() . ", spool: @{[spool_files()]}");
    is(sql("SELECT count(DISTINCT transaction_id) FROM audit_records"), 500,
       'no duplicate transaction id');
    is(sql("SELECT min(seq) || ' ' || max(seq) FROM audit_records"), '1 500',
       'chain positions 1..500');
    my $r = decode_json(sql("SELECT json_object('c', consumer_org || '/' || consumer_system,"
        . " 'p', provider_org || '/' || provider_system, 's', service || '/' || version,"
        . " 'route', route, 'env', environment, 'm', method, 'st', status, 'ust', upstream_status,"
        . " 'res', result, 'why', reason, 'gen', generation, 'up', upstream_duration_us,"
        . " 'rid', request_id, 'cid', client_id, 'bin', bytes_in, 'bout', bytes_out)"
        . " FROM audit_records WHERE transaction_id = 'a0000000000000000000000000000004'"));
    is_deeply($r, { c => 'H26.107/so-tp-portal', p => 'H26.30/so-tp-hotich',
                    s => 'ho-tich/v1', route => 'ho-tich/v1', env => 'production',
                    m => 'GET', st => 403, ust => 0, res => '01', why => 'no_grant',
                    gen => 3, up => -1, rid => 'req-a-4', cid => 'cl_test',
                    bin => 204, bout => 80 },
              'a denied record carries every field');
    is(count("transaction_id = 'a0000000000000000000000000000006' AND environment = 'sandbox'"
             . " AND result = '00' AND status = 200 AND upstream_status = 200"), 1,
       'an allowed sandbox record');
    is(count("route LIKE '%?%'"), 0, 'no query string in any route');
    is(count("start_ms < 1600000000000 OR ingested_ms < start_ms"), 0, 'times in UTC ms');
}

# ---- kill -9 lgspd, twice, in the middle of a 20,000-record write
{
    my ($pid) = writer('w2', 20000, '--tag', 'b', '--seg-size', 65536, '--pause-us', 40);
    for my $at (3000, 9000) {
        ok($t->wait_until(sub { count() > 500 + $at }, 60), "ingesting (past $at)");
        $t->stop_lgspd('KILL');
        is($? & 127, 9, 'lgspd killed with SIGKILL');
        $t->start_lgspd;
    }
    waitpid $pid, 0;
    is($? >> 8, 0, 'the writer finished, none dropped');
    ok(settled(20500, 60), 'after restarts: 20,500 rows, spool emptied')
        or diag("rows " . count());
    is(count("transaction_id LIKE 'b%'"), 20000, 'exactly the 20,000 written');
    is(sql("SELECT count(DISTINCT transaction_id) FROM audit_records"), 20500,
       'no duplicate transaction id');
    is(sql("SELECT max(seq) - min(seq) + 1 FROM audit_records"), 20500, 'no gap in the chain');
}

# ---- kill -9 the writer: its unsealed segment is taken over
{
    my ($pid, $out) = writer('w3', 300, '--tag', 'c', '--hold');
    ok($t->wait_until(sub { $t->slurp($out) =~ /^done 300/m }, 30), 'writer holds 300 records');
    ok(scalar(grep { /^seg\.$pid\./ } spool_files()), 'its segment is still in the spool');
    kill 'KILL', $pid;
    waitpid $pid, 0;
    ok(settled(20800), 'dead writer: its 300 committed records ingested, segment deleted');
    like($t->slurp("$h/lgspd.out"), qr/took over segment seg\.$pid\./, 'lgspd says it took over');

    # and killed in the middle of writing: every committed record arrives
    ($pid, $out) = writer('w4', 1000000, '--tag', 'd', '--every', 1, '--pause-us', 100,
                          '--seg-size', 65536);
    ok($t->wait_until(sub { my @l = split /\n/, $t->slurp($out); @l >= 2000 }, 60),
       'writer is writing');
    kill 'KILL', $pid;
    waitpid $pid, 0;
    my ($printed) = $t->slurp($out) =~ /(\d+)\n?\z/;
    ok($t->wait_until(sub { !spool_files() }, 30), 'spool emptied');
    my $got = count("transaction_id LIKE 'd%'");
    # it prints after committing: at most one committed record is unprinted
    ok($got == $printed || $got == $printed + 1, "all committed records: $got for $printed printed");
    is(sql("SELECT count(*) - count(DISTINCT transaction_id) FROM audit_records"), 0,
       'still no duplicate');
}

my $total = count();

# ---- backlog while lgspd is down; the data path would keep writing
{
    $t->stop_lgspd('TERM');
    my ($pid) = writer('w5', 40, '--tag', 'e');
    waitpid $pid, 0;
    my $st = decode_json($t->ctl_ok('status', '--json'));
    is($st->{audit_backlog}, 40, 'status shows the backlog while lgspd is down');
    $t->start_lgspd;
    ok(settled($total + 40), 'ingested once lgspd is back');
    $st = decode_json($t->ctl_ok('status', '--json'));
    is($st->{audit_backlog}, 0, 'backlog back to 0');
    like($t->ctl_ok('status'), qr/^audit_backlog\s+0$/m, 'and in the text status');
    $total += 40;
}

# ---- list and export filters
{
    sub list { my ($rc, $out, $err) = $t->ctl('audit', 'list', '--json', '--limit', 1000000, @_);
               is($rc, 0, "audit list @_") or diag $err; decode_json($out) }
    my $one = list('--transaction', 'a0000000000000000000000000000009');
    is(scalar @$one, 1, '--transaction finds one');
    is($one->[0]{reason}, 'rate_limited', 'with its reason');
    like($one->[0]{start_time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'start_time in UTC');
    is(scalar @{ list('--request-id', 'req-a-9') }, 1, '--request-id');
    for my $case (
        [ ['--consumer', 'so-tp-portal'], "consumer_system = 'so-tp-portal'" ],
        [ ['--consumer', 'H26.20'], "consumer_org = 'H26.20'" ],
        [ ['--provider', 'H26.30', '--result', '01'], "provider_org = 'H26.30' AND result = '01'" ],
        [ ['--service', 'dan-cu'], "service = 'dan-cu'" ],
        [ ['--service', 'dan-cu/v1', '--result', '00'], "service = 'dan-cu' AND version = 'v1' AND result = '00'" ],
        [ ['--service', 'dan-cu/v9'], '1 = 0' ],
        [ ['--consumer', 'nobody'], '1 = 0' ],
    ) {
        my ($args, $where) = @$case;
        my $want = count($where);
        is(scalar @{ list(@$args) }, $want, "@$args: $want rows");
    }
    is(scalar @{ list('--limit', 7) }, 7, '--limit');

    # times: without an offset, the city's time (UTC+7)
    my ($ms, $txn) = split /\|/, sql("SELECT start_ms, transaction_id FROM audit_records WHERE seq = 1");
    my $local = strftime('%Y-%m-%dT%H:%M:%S', gmtime(int($ms / 1000) + 7 * 3600)) . sprintf('.%03d', $ms % 1000);
    my $utc = strftime('%Y-%m-%dT%H:%M:%S', gmtime(int($ms / 1000))) . sprintf('.%03dZ', $ms % 1000);
    my $same = count("start_ms = $ms");
    is(scalar @{ list('--since', $local, '--until', $local) }, $same, "a local time without offset is UTC+7 ($local)");
    is(scalar @{ list('--since', $utc, '--until', $utc) }, $same, "Z is UTC ($utc)");
    (my $plus7 = $local) .= '+07:00';
    is(scalar @{ list('--since', $plus7, '--until', $plus7) }, $same, 'an explicit +07:00');
    is(scalar @{ list('--until', '2001-01-01') }, 0, '--until in the past: nothing');
    is(scalar @{ list('--since', '2999-01-01T00:00') }, 0, '--since in the future: nothing');

    my ($rc, undef, $err) = $t->ctl('audit', 'list', '--since', 'yesterday');
    is($rc, 2, 'a bad time is bad usage');
    like($err, qr/^lgspctl: --since: "yesterday" is not an ISO 8601 time/, 'and says so');
    ($rc) = $t->ctl('audit', 'list', '--since', '2024-02-30');
    is($rc, 2, '30 February refused');
    ($rc, undef, $err) = $t->ctl('audit', 'list', '--result', '02');
    is($rc, 2, '--result other than 00/01 refused');
    ($rc) = $t->ctl('audit', 'export');
    is($rc, 2, 'export needs --format');
    ($rc) = $t->ctl('audit', 'export', '--format', 'xml');
    is($rc, 2, 'export --format xml refused');

    my $csv = $t->ctl_ok('audit', 'export', '--format', 'csv', '--service', 'ho-tich', '--result', '01');
    my @lines = split /\r\n/, $csv;
    like($lines[0], qr/^seq,transaction_id,request_id,start_ms,start_time,/, 'CSV header');
    is(@lines - 1, count("service = 'ho-tich' AND result = '01'"), 'CSV: one line per record');
    like($lines[1], qr/^\d+,"[a-e]0{20,}[0-9a-f]+","req-/, 'CSV quotes texts');
    my $json = decode_json($t->ctl_ok('audit', 'export', '--format', 'json', '--consumer', 'ubnd-qlvb'));
    is(scalar @$json, count("consumer_system = 'ubnd-qlvb'"), 'JSON export');
    like($t->ctl_ok('audit', 'list', '--transaction', 'a0000000000000000000000000000004'),
         qr/a0000000000000000000000000000004\s+so-tp-portal\s+ho-tich\/v1\s+production\s+GET\s+403\s+01\s+no_grant/,
         'the table shows a denied record');
}

# ---- tamper evidence
{
    like($t->ctl_ok('audit', 'seal'), qr/^sealed the audit chain at seq $total \(seal \d+\)$/, 'seal now');
    like($t->ctl_ok('audit', 'verify'), qr/^OK: $total records, \d+ seals$/, 'verify: OK');

    # one row changed with sqlite3
    my ($txn, $was) = split /\|/, sql("SELECT transaction_id, status || ',' || quote(result)"
                                      . " || ',' || quote(reason) FROM audit_records WHERE seq = 777");
    my ($status, $result, $reason) = split /,/, $was;
    sql("UPDATE audit_records SET status = 299 WHERE seq = 777");
    my ($rc, undef, $err) = $t->ctl('audit', 'verify');
    is($rc, 1, 'verify fails on a changed row');
    like($err, qr/record seq 777 \(transaction $txn\): hash does not match/, 'and names it');
    sql("UPDATE audit_records SET status = $status, result = $result, reason = $reason WHERE seq = 777");
    is(($t->ctl('audit', 'verify'))[0], 0, 'verify OK once the row is put back');

    # a deleted record
    $t->stop_lgspd('TERM');
    sql("CREATE TABLE keep AS SELECT * FROM audit_records WHERE seq = 5000;"
        . " DELETE FROM audit_records WHERE seq = 5000");
    ($rc, undef, $err) = $t->ctl('audit', 'verify');
    is($rc, 1, 'verify fails on a deleted record');
    like($err, qr/record seq 5001 .*expected seq 5000/, 'and says where');
    sql("INSERT INTO audit_records SELECT * FROM keep; DROP TABLE keep");
    is(($t->ctl('audit', 'verify'))[0], 0, 'verify OK once it is back');

    # a forger without the key: change a row and recompute the chain after
    # it, the head and the seal's hash (docs/audit.md "Hash chain")
    my $from = $total - 20;
    sql("UPDATE audit_records SET consumer_system = 'forged' WHERE seq = $from");
    my $head = $t->audit_rehash($from);
    sql("UPDATE audit_seals SET head_hash = X'$head' WHERE seq = $total");
    ($rc, undef, $err) = $t->ctl('audit', 'verify');
    is($rc, 1, 'a recomputed chain fails verify');
    like($err, qr/seal \d+ at seq $total in audit.db differs from the checkpoint \S+checkpoints.log/,
         'on the checkpoint outside audit.db');
    unlike($err, qr/hash does not match/, 'the recomputed chain itself is consistent');
    $t->start_lgspd;
}

# ---- usage
{
    my ($rc, undef, $err) = $t->ctl('audit');
    is($rc, 2, 'audit without a verb is bad usage');
    my $help = $t->ctl_ok('--help');
    like($help, qr/lgspctl audit verify/, '--help lists the audit verbs');

    # no verb of the shipped lgspctl writes records (issue 16)
    my $before = count();
    for my $v (['audit', '_write-test-records', '5'], ['report', '_write-records', '-']) {
        my ($vrc, undef, $verr) = $t->ctl(@$v);
        is($vrc, 2, "lgspctl @$v[0,1] is bad usage");
        like($verr, qr/usage/i, '... with the usage');
    }
    ok(!spool_files(), 'nothing reached the spool');
    is(count(), $before, 'nor audit.db');
    for my $bin (map { "$LGSP::Test::BUILD/bin/$_" } qw(lgspctl lgspd)) {
        open my $fh, '<:raw', $bin or die "$bin: $!";
        my $image = do { local $/; <$fh> };
        unlike($image, qr/_write-(test-)?records/, "$bin has no record writer");
    }
}

$t->stop;
done_testing;
