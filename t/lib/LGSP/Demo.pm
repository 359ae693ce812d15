package LGSP::Demo;

# A small registry for data-path tests, made through lgspctl as an
# operator would: a provider agency and system with a service, a consumer
# agency and system with grants and credentials in both environments.
# build($t, upstream => $up, rate => '20/s', burst => 5): the grants'
# limits (default 100000/s with a burst of 1000: out of the way).

use strict;
use warnings;
use JSON::PP;
use MIME::Base64 qw(encode_base64url decode_base64url);
use Test::More;

sub build {
    my ($t, %o) = @_;
    my $up = $o{upstream} // die 'upstream';
    my $sbx = $o{sandbox_upstream} // $up;
    my %d = (t => $t);

    $t->ctl_ok('agency', 'add', 'H26.107', '--name', 'So Tu phap');
    $t->ctl_ok('agency', 'add', 'H26.108', '--name', 'So Y te');
    $t->ctl_ok('system', 'add', 'prov-sys', '--agency', 'H26.107', '--name', 'CSDL ho tich');
    $t->ctl_ok('system', 'commitment', 'prov-sys', '--signed-by', 'Nguyen Van A', '--date', '2026-01-15');
    $t->ctl_ok('system', 'add', 'cons-sys', '--agency', 'H26.108', '--name', 'HTTT y te');
    $t->ctl_ok('service', 'add', 'citizen', '--provider', 'prov-sys', '--name', 'Tra cuu cong dan',
               '--upstream', "$up->{url}/base", '--sandbox-upstream', "$sbx->{url}/sbx",
               '--methods', 'GET,POST', @{ $o{service_args} // [] });
    $t->ctl_ok('service', 'publish', 'citizen/v1', '--env', 'production');
    for my $env (qw(production sandbox)) {
        $t->ctl_ok('grant', 'add', '--consumer', 'cons-sys', '--service', 'citizen/v1',
                   '--env', $env, '--rate', ($o{rate} // '100000/s'), '--burst', ($o{burst} // 1000));
        my ($id, $secret) = split /\n/, $t->ctl_ok('credential', 'issue', 'cons-sys', '--env', $env);
        $d{cred}{$env} = { client_id => $id, client_secret => $secret };
    }
    return bless \%d, __PACKAGE__;
}

# A token from lgspd, the way an agency gets one.
sub token {
    my ($self, $env) = @_;
    my $c = $self->{cred}{$env // 'production'};
    my $r = $self->{t}->http('POST', '/oauth/token',
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
        content => "grant_type=client_credentials&client_id=$c->{client_id}"
                 . "&client_secret=$c->{client_secret}");
    is($r->{status}, 200, 'token issued') or diag($r->{content});
    return decode_json($r->{content})->{access_token};
}

sub claims {
    my ($token) = @_;
    my (undef, $p) = split /\./, $token;
    return decode_json(decode_base64url($p));
}

# A token signed with the platform's private key but with the claims and
# header the test chooses: the attacks and edge cases lgspd never issues.
sub mint {
    my ($self, $claims, %o) = @_;
    my $t = $self->{t};
    my $real = (glob("$t->{home}/keys/*.pem"))[0] =~ s{.*/|\.pem$}{}gr;
    my $kid = $o{kid} // $real;
    my $hdr = { alg => $o{alg} // 'RS256', typ => 'JWT', kid => $kid };
    my $in = encode_base64url(encode_json($hdr)) . '.' . encode_base64url(encode_json($claims));
    my $f = "$t->{home}/mint.in";
    open my $fh, '>', $f or die; print $fh $in; close $fh;
    my $key = $o{key} // "$t->{home}/keys/$real.pem";
    my $sig = `openssl dgst -sha256 -sign $key $f`;
    return "$in." . encode_base64url($sig);
}

1;
