#!/usr/bin/perl
# check-layers.pl [SRC_DIR]: fails if a module names a layer above its own.
#
# The layers, lowest first (docs/design.md, "Layout"): each may use the ones before
# it; the QEMU backend may use util and switch only. A file's layer is its
# folder under src/; every `crate::x` path in its code (comments stripped,
# `crate::{a, b}` groups expanded) must name a layer it may use.
use strict;
use warnings;
use File::Find;

my @order = qw(util switch coroutine locks aio capi);
my %rank = map { $order[$_] => $_ } 0 .. $#order;
my %allowed;
for my $layer (@order) {
    $allowed{$layer} = { map { $_ => 1 } grep { $rank{$_} <= $rank{$layer} } @order };
}
$allowed{qemu_backend} = { map { $_ => 1 } qw(util switch qemu_backend) };

my $src = shift // 'src';
my @bad;
find({ no_chdir => 1, wanted => sub {
    return unless /\.rs$/;
    my $file = $File::Find::name;
    (my $rel = $file) =~ s{^\Q$src\E/}{};
    return if $rel eq 'lib.rs';
    my ($layer) = $rel =~ m{^([^/]+)/} or do { push @bad, "$file: not in a layer folder"; return };
    my $ok = $allowed{$layer} or do { push @bad, "$file: unknown layer '$layer'"; return };
    open my $fh, '<', $file or die "$file: $!";
    my $code = join '', map { s{//.*}{}r } <$fh>;
    my @used;
    while ($code =~ /\bcrate::(?:(\w+)|\{([^}]*)\})/g) {
        my $line = 1 + (substr($code, 0, $-[0]) =~ tr/\n//);
        push @used, map { [$_, $line] } defined $1 ? $1 : map { /^\s*(\w+)/ ? $1 : () } split /,/, $2;
    }
    for (@used) {
        my ($to, $line) = @$_;
        push @bad, "$file:$line: the $layer layer uses crate::$to" unless $ok->{$to};
    }
}}, $src);

if (@bad) {
    print "$_\n" for @bad;
    print "layers: a module imports a layer above its own (order: @order; qemu_backend: util switch)\n";
    exit 1;
}
print "layers: no module imports a layer above its own\n";
