#!/usr/bin/perl
# lgspctl restore of an earlier backup (SPEC §11, §12; docs/operator-guide.md
# "Backups"), through the real data path: every final state made since the
# backup stays -- an external issuer removed, a version retired, a service
# ended, a key rotated in and the old one revoked, an agency renamed, a
# request decided -- and what was created since stays too, so no id of any
# kind comes free.  A backup of another registry is refused.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use POSIX qw(strftime);
use Test::More;
use LGSP::Test;
use LGSP::Demo;
use LGSP::Jose;

my $t = LGSP::Test->new(workers => 1, start => 0);
my $home = $t->home;
# a file JWKS is read again within a second
$t->lgspd_conf(jwks_refresh_s => 1);
$t->start_lgspd;
$t->start_nginx;
$t->wait_ready or die 'not ready';

sub json { decode_json($t->ctl_ok('--json', @_)) }
sub city_date { strftime('%Y-%m-%d', gmtime(time + 7 * 3600 + $_[0] * 86400)) }
sub call {
    my ($path, $token) = @_;
    return $t->http('GET', $path, headers => { Authorization => "Bearer $token" });
}
sub status_is {
    my ($path, $token, $want, $name) = @_;
    my $r = call($path, $token);
    is($r->{status}, $want, $name) or diag($r->{content});
}
# the data path serves the registry within a second or two
sub comes_to {
    my ($path, $token, $want, $name) = @_;
    ok($t->wait_until(sub { call($path, $token)->{status} == $want }, 5), $name)
        or diag(call($path, $token)->{content});
}
sub kids { map { $_->{kid} => $_->{state} } @{ json('key', 'list') } }

my $up = $t->upstream;
my $d = LGSP::Demo::build($t, upstream => $up);
my $tok = $d->token('production');
comes_to('/api/citizen/v1/x', $tok, 200, 'the demo registry serves');

# --- the registry at the backup --------------------------------------------
# an external issuer whose tokens name cons-sys (file JWKS)
system("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $home/ext.pem 2>/dev/null") == 0
    or die 'openssl genpkey';
open my $jf, '>', "$home/jwks.json" or die;
print $jf encode_json({ keys => [LGSP::Jose::rsa_jwk("$home/ext.pem", 'ext-1')] });
close $jf;
my $ISS = 'https://sso.city.test';
my $iid = $t->ctl_ok('issuer', 'add', $ISS, '--jwks', "$home/jwks.json",
                     '--audience', 'city-api', '--env', 'production');
sub ext_token {
    my $now = time;
    return LGSP::Jose::sign($home, { alg => 'RS256', typ => 'JWT', kid => 'ext-1' },
                            { iss => $ISS, sub => 'cons-sys', aud => 'city-api',
                              iat => $now, exp => $now + 300 }, "$home/ext.pem");
}
comes_to('/api/citizen/v1/x', ext_token(), 200, "the issuer's token is accepted");

# a second version (to retire) and a second service (to end), both granted
$t->ctl_ok('service', 'version', 'add', 'citizen/v2', '--upstream', "$up->{url}/v2");
$t->ctl_ok('service', 'publish', 'citizen/v2', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v2', '--env', 'production');
$t->ctl_ok('service', 'add', 'land', '--provider', 'prov-sys', '--name', 'Dat dai',
           '--upstream', "$up->{url}/land");
$t->ctl_ok('service', 'publish', 'land/v1', '--env', 'production');
$t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'land/v1', '--env', 'production');
comes_to('/api/citizen/v2/x', $tok, 200, 'citizen/v2 serves');
comes_to('/api/land/v1/x', $tok, 200, 'land/v1 serves');
# an agency to rename and a request to decide
$t->ctl_ok('agency', 'add', 'H26.200', '--name', 'So Xay dung');
my $req = $t->ctl_ok('request', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v2',
                     '--env', 'sandbox', '--purpose', 'thu nghiem');
my ($old_kid) = grep { { kids() }->{$_} eq 'active' } keys %{ { kids() } };

my $bk = "$home/backup.db";
$t->ctl_ok('backup', $bk);

# --- final states and creations after the backup ----------------------------
$t->ctl_ok('issuer', 'remove', $iid);
comes_to('/api/citizen/v1/x', ext_token(), 401, "a removed issuer's token is refused");
$t->ctl_ok('service', 'retire', 'citizen/v2', '--force', '--reason', 'replaced');
comes_to('/api/citizen/v2/x', $tok, 410, 'a retired version answers 410');
$t->ctl_ok('service', 'end', 'land', '--date', city_date(0), '--force', '--reason', 'law changed');
comes_to('/api/land/v1/x', $tok, 410, 'an ended service answers 410');
my $new_kid = $t->ctl_ok('key', 'rotate');
$t->ctl_ok('key', 'revoke', $old_kid, '--reason', 'leaked');
comes_to('/api/citizen/v1/x', $tok, 401, "a token of the revoked key is refused");
$t->ctl_ok('agency', 'rename', 'H26.200', '--code', 'H26.201');
$t->ctl_ok('request', 'reject', $req, '--reason', 'no scope');
$t->ctl_ok('system', 'add', 'late-sys', '--agency', 'H26.108', '--name', 'Made after the backup');
my $late_cred = (split /\n/, $t->ctl_ok('credential', 'issue', 'late-sys'))[0];
# and a setting changed since: the one kind of change a restore undoes
$t->ctl_ok('agency', 'rename', 'H26.108', '--name', 'Renamed by mistake');

my $r = json('restore', $bk);
is($r->{issuers_removed}, 1, 'restore: the issuer removed since is reported');
is($r->{versions_retired}, 1, '  the version retired since');
is($r->{services_ended}, 1, '  the service ended since');
is($r->{keys_revoked}, 1, '  the key revoked since');
is($r->{keys_rotated_in}, 1, '  the key rotated in since');
is($r->{agencies_renamed}, 1, '  the agency renamed since');
is($r->{requests_decided}, 1, '  the request decided since');
is($r->{created_since}{systems}, 1, '  the system created since');
is($r->{created_since}{credentials}, 1, '  its credential');
is($r->{removed_since}{issuers}, 1, '  the issuer stays removed');
ok(!$r->{whole}, '  the live registry was the backup\'s later state');

# --- every one of them holds on the data path --------------------------------
is(scalar @{ json('issuer', 'list') }, 0, 'the removed issuer is not back');
status_is('/api/citizen/v1/x', ext_token(), 401, "its tokens are still refused");
status_is('/api/citizen/v2/x', $tok, 410, 'the retired version still answers 410');
status_is('/api/land/v1/x', $tok, 410, 'the ended service still answers 410');
my %k = kids();
is($k{$new_kid}, 'active', 'the key rotated in is still the active key');
is($k{$old_kid}, 'revoked', 'the old key stays revoked');
my $tok2 = $d->token('production');
my $hdr = decode_json(MIME::Base64::decode_base64url((split /\./, $tok2)[0]));
is($hdr->{kid}, $new_kid, '/oauth/token signs with the key rotated in');
status_is('/api/citizen/v1/x', $tok2, 200, 'and its token is accepted');
status_is('/api/citizen/v1/x', $tok, 401, "a token of the revoked key is still refused");

# --- no id of any kind comes free --------------------------------------------
my %ag = map { $_->{code} => $_ } @{ json('agency', 'list') };
ok($ag{'H26.201'} && !$ag{'H26.200'}, 'the renamed agency keeps its new code');
is_deeply($ag{'H26.201'}{former_codes}, ['H26.200'], '  and the old one as former');
is($ag{'H26.108'}{name}, 'So Y te', 'a setting changed since is rolled back');
$t->ctl_refused(qr/former code of agency H26.201/, 'agency', 'add', 'H26.200', '--name', 'x');
$t->ctl_refused(qr/already exists/, 'agency', 'add', 'H26.201', '--name', 'x');
my ($late) = grep { $_->{id} eq 'late-sys' } @{ json('system', 'list') };
ok($late, 'the system created after the backup is kept');
$t->ctl_refused(qr/already exists/, 'system', 'add', 'late-sys', '--agency', 'H26.107',
                '--name', 'Impostor');
ok((grep { $_->{client_id} eq $late_cred } @{ json('credential', 'list') }),
   'its credential too');
my ($rq) = grep { $_->{id} == $req } @{ json('request', 'list') };
is($rq && $rq->{state}, 'rejected', 'the request decided since stays decided');
my $iid2 = $t->ctl_ok('issuer', 'add', $ISS, '--jwks', "$home/jwks.json",
                      '--audience', 'city-api', '--env', 'production');
cmp_ok($iid2, '>', $iid, 'an issuer added again gets a fresh id');
ok((grep { $_->{action} eq 'remove' && $_->{object} eq "issuer:$iid" } @{ json('log') }),
   'the change log since the backup is kept');

# --- restoring the same backup again changes nothing final -------------------
$r = json('restore', $bk);
is($r->{versions_retired}, 1, 'a second restore: the retirement still holds');
status_is('/api/citizen/v2/x', $tok2, 410, '  410 still');

# --- a backup of another registry ---------------------------------------------
# (lgspctl finds its home in LGSP_HOME, which the newest harness set)
my $t2 = LGSP::Test->new(start => 0);
my $bk2 = "$t2->{home}/other.db";
$t2->ctl_ok('agency', 'add', 'H26.900', '--name', 'Other city');
$t2->ctl_ok('backup', $bk2);
$ENV{LGSP_HOME} = $t->home;
my $before = $t->ctl_ok('--json', 'agency', 'list');
$t->ctl_refused(qr/not an earlier state of .*move .* away first/, 'restore', $bk2);
is($t->ctl_ok('--json', 'agency', 'list'), $before, '  and the registry is unchanged');

# into a lost registry: the backup comes back whole
$ENV{LGSP_HOME} = $t2->home;
rename "$t2->{home}/lgsp.db", "$t2->{home}/lost.db" or die;
unlink "$t2->{home}/lgsp.db-wal", "$t2->{home}/lgsp.db-shm";
$r = decode_json($t2->ctl_ok('--json', 'restore', $bk2));
ok($r->{whole}, 'restore into a lost registry: the backup whole');
ok((grep { $_->{code} eq 'H26.900' } @{ decode_json($t2->ctl_ok('--json', 'agency', 'list')) }),
   '  with its agencies');

# a table no rule covers is refused rather than rolled back blindly
system('sqlite3', "$t2->{home}/lgsp.db", 'CREATE TABLE extra (id INTEGER PRIMARY KEY)') == 0
    or die 'sqlite3';
$t2->ctl_refused(qr/table extra has no restore rule/, 'restore', $bk2);

$t->stop;
$t2->stop;
done_testing;
