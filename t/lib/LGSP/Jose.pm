package LGSP::Jose;

# JWS by hand, for the tokens a test signs itself: an external issuer's,
# or the attacks lgspd never issues.  Keys are PEM files; openssl signs.
# sign($dir, \%hdr | $b64, \%claims | $b64, $keyfile): a compact JWS (the
# signing input goes through a file in $dir); rsa_jwk / ec_jwk($file,
# $kid): the public JWK of a key file.

use strict;
use warnings;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);

sub sign {
    my ($dir, $hdr, $claims, $keyfile) = @_;
    my $in = (ref $hdr ? encode_base64url(encode_json($hdr)) : $hdr) . '.'
           . (ref $claims ? encode_base64url(encode_json($claims)) : $claims);
    open my $fh, '>', "$dir/sign.in" or die "$dir/sign.in: $!";
    print $fh $in;
    close $fh;
    my $sig = `openssl dgst -sha256 -sign $keyfile $dir/sign.in`;
    die 'openssl dgst failed' if $?;
    $sig = es256_raw($sig) if ref $hdr && ($hdr->{alg} // '') eq 'ES256';
    return "$in." . encode_base64url($sig);
}

# an ECDSA DER signature (SEQUENCE of two INTEGERs) as JWS r || s
sub es256_raw {
    my ($der) = @_;
    my @b = unpack 'C*', $der;
    my $i = 2;
    my @out;
    for (1 .. 2) {
        my $len = $b[$i + 1];
        my @n = @b[$i + 2 .. $i + 1 + $len];
        shift @n while @n > 32;
        unshift @n, 0 while @n < 32;
        push @out, @n;
        $i += 2 + $len;
    }
    return pack 'C*', @out;
}

sub rsa_jwk {
    my ($file, $kid) = @_;
    my ($hex) = `openssl rsa -in $file -noout -modulus 2>/dev/null` =~ /Modulus=([0-9A-F]+)/;
    return { kty => 'RSA', kid => $kid, use => 'sig', alg => 'RS256',
             n => encode_base64url(pack('H*', $hex)), e => 'AQAB' };
}

sub ec_jwk {
    my ($file, $kid) = @_;
    my $der = `openssl pkey -in $file -pubout -outform DER 2>/dev/null`;
    my $pt = substr($der, -64);
    return { kty => 'EC', crv => 'P-256', kid => $kid,
             x => encode_base64url(substr($pt, 0, 32)), y => encode_base64url(substr($pt, 32)) };
}

1;
