# forkpool's perl co-process: evaluates {= perl =} expressions the way
# GNU parallel does. See README.md beside this file for the protocol.
#
# Expressions are compiled once, in package Arg, as
#   sub { no strict; no warnings; my $job = shift; CODE }
# and run with $_ set to the (trimmed) argument, @arg to the job's
# arguments (from $arg[1]); what is left in $_ is the value. Variables the
# code sets live on from job to job, as in GNU parallel.
use strict;
no warnings;

use POSIX ();

# The channel is fd 0 (a socket); the expressions get /dev/null instead.
open(my $chan, "+<&", \*STDIN) or die "forkpool perl: no channel: $!\n";
open(STDIN, "<", "/dev/null");
binmode $chan;
binmode STDOUT;
$| = 1;

sub esc {
    my $s = shift;
    $s = "" unless defined $s;
    if ($s =~ /[\\\t\n]/) {
        $s =~ s/\\/\\\\/g;
        $s =~ s/\t/\\t/g;
        $s =~ s/\n/\\n/g;
    }
    return $s;
}

sub unesc {
    my $s = shift;
    if (index($s, "\\") >= 0) {
        $s =~ s/\\(.)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : $1/ges;
    }
    return $s;
}

# ----------------------------------------------------------- GNU parallel --
package main;

sub shell_quote_scalar_default($) {
    local $_ = $_[0];
    if (/[^-_.+a-z0-9\/]/i) {
        s/'/'"'"'/g;
        $_ = "'$_'";
        s/^''//;
        s/''$//;
        return $_;
    } elsif ($_ eq "") {
        return "''";
    }
    return $_;
}
sub shell_quote_scalar($) { shell_quote_scalar_default($_[0]) }
sub Q($) { shell_quote_scalar_default($_[0]) }
sub shell_quote(@) { wantarray ? (map { Q($_) } @_) : (join " ", map { Q($_) } @_) }
sub perl_quote_scalar($) {
    my $a = $_[0];
    if (defined $a) { $a =~ s/[\\\"\$\@]/\\$&/go; }
    return $a;
}
sub pQ($) { perl_quote_scalar($_[0]) }
sub uniq(@) { return keys %{{ map { $_ => 1 } @_ }}; }
sub min(@) { my $min; for (@_) { defined $_ or next; defined $min or do { $min = $_; next; }; $min = $min < $_ ? $min : $_; } return $min; }
sub max(@) { my $max; for (@_) { defined $_ or next; defined $max or do { $max = $_; next; }; $max = $max > $_ ? $max : $_; } return $max; }
sub sum(@) { my $sum = 0; for (@_) { $_ and do { $sum += $_; } } return $sum; }
sub make_regexp_ungreedy {
    my $regexp = shift;
    my ($class_state, $escape_state, $found, $ungreedy) = (0, 0, 0, "");
    for my $c (split(//, $regexp)) {
        if ($found) {
            if ($c ne "?") { $ungreedy .= "?"; }
            $found = 0;
        }
        $ungreedy .= $c;
        if ($escape_state) { $escape_state = 0; next; }
        if ($c eq "\\") { $escape_state = 1; next; }
        if ($c eq '[') { $class_state = 1; next; }
        if ($class_state) {
            if ($c eq ']') { $class_state = 0; }
            next;
        }
        if ($c =~ /[*}+]/) { $found = 1; }
    }
    if ($found) { $ungreedy .= '?'; }
    return $ungreedy;
}

# What a job looks like to `$job->...`.
package forkpool::Job;
sub seq { $_[0]{seq} }
sub slot { $_[0]{slot} }
sub skip { $_[0]{skip} = 1 }

# What the expressions see unqualified, with GNU parallel's prototypes, so
# that a call with the wrong number of arguments fails to compile there too.
package Arg;
our (@arg, $job, $unquote, $total);
sub Q($) { main::Q($_[0]) }
sub pQ($) { main::pQ($_[0]) }
sub uq() { $unquote = 1 }
sub hash($) { $Global::use{"B"} ||= eval "use B; 1;"; B::hash(@_) }
sub total_jobs() { $total }
sub skip() { $job->skip() }
sub slot() { $job->slot() }
sub seq() { $job->seq() }
sub yyyy_mm_dd_hh_mm_ss() { POSIX::strftime("%Y-%m-%dT%H:%M:%S", localtime(time())) }
sub yyyy_mm_dd_hh_mm() { POSIX::strftime("%Y-%m-%dT%H:%M", localtime(time())) }
sub yyyy_mm_dd() { POSIX::strftime("%Y-%m-%d", localtime(time())) }
sub hh_mm_ss() { POSIX::strftime("%H:%M:%S", localtime(time())) }
sub hh_mm() { POSIX::strftime("%H:%M", localtime(time())) }
sub yyyymmddhhmmss() { POSIX::strftime("%Y%m%d%H%M%S", localtime(time())) }
sub yyyymmddhhmm() { POSIX::strftime("%Y%m%d%H%M", localtime(time())) }
sub yyyymmdd() { POSIX::strftime("%Y%m%d", localtime(time())) }
sub hhmmss() { POSIX::strftime("%H%M%S", localtime(time())) }
sub hhmm() { POSIX::strftime("%H%M", localtime(time())) }

sub compile_expression {
    return eval("package Arg; sub { no strict; no warnings; my \$job = shift; " . $_[0] . "\n}");
}

# ------------------------------------------------------------------ loop --
package main;

my @code;
my @subs;
my $trim = "n";
my $failed;
# Lines keyed so far (`$.` in a key expression).
my $keyline = 0;

sub trimmed {
    my $s = shift;
    return $s if $trim eq "n";
    $s =~ s/^\s+// if $trim eq "l" or $trim eq "lr";
    $s =~ s/\s+$// if $trim eq "r" or $trim eq "lr";
    return $s;
}

# Unescapes the values of a request in place (nothing to do if its line
# has no backslash). A line's last column ends with its newline: that is
# unescaped inline, as unesc's call would cost most of the time.
sub unesc_values {
    # ($values, $line): the line not copied.
    return if index($_[1], "\\") < 0;
    for (@{ $_[0] }) {
        my $i = index($_, "\\");
        next if $i < 0;
        if ($i == length($_) - 2 and substr($_, -1) eq "n") {
            substr($_, -2) = "\n";
        } else {
            $_ = unesc($_);
        }
    }
}

# A job's uses of the expressions, `e.i,~e.i,^e.i...` (`~`: GNU measuring
# the line, not answered; `^`: uq() was called as the line was measured),
# as [answered, slot, e, i, unquoted] each, a slot per distinct `e.i`:
# parsed once per distinct text (jobs alike share one).
my %plans;
sub plan_of {
    my $text = shift;
    my $plan = $plans{$text};
    return $plan if $plan;
    %plans = () if keys %plans > 1000;
    my (%slot, @steps);
    for my $item (split /,/, $text) {
        my $unquoted = $item =~ s/^\^//;
        my $answer = substr($item, 0, 1) ne "~";
        my $key = $answer ? $item : substr($item, 1);
        if (not exists $slot{$key}) {
            my $n = keys %slot;
            $slot{$key} = $n;
        }
        push @steps, [$answer, $slot{$key}, split(/\./, $key), $unquoted];
    }
    return $plans{$text} = \@steps;
}

# The values of a job's (or a measured record's) uses of the expressions
# on @$args, GNU's cache kept: a value that is true is used again; "" or
# "0" is computed again at its next use. Returns the answer line.
sub evaluate_steps {
    my ($evals, $args) = @_;
    my (@value, @unquoted, @out);
    for my $step (@{ $plans{$evals} || plan_of($evals) }) {
        my $s = $step->[1];
        # (GNU keeps uq()'s mark with the value, even a false one.)
        $unquoted[$s] = 1 if $step->[4];
        if (not $value[$s]) {
            my (undef, undef, $e, $i) = @$step;
            local $_ = defined $args->[$i] ? $args->[$i] : "";
            $_ = trimmed($_) if $trim ne "n";
            $Arg::unquote = 0;
            my $ok = eval { $subs[$e]->($Arg::job); 1 };
            if (not $ok) {
                my $why = $@;
                $why = "died" if not defined $why or $why eq "";
                $failed = "$e\t$why";
                return "!\t" . esc($failed) . "\n";
            }
            $value[$s] = $_;
            $unquoted[$s] = 1 if $Arg::unquote;
        }
        push @out, ($unquoted[$s] ? "u" : "q") . esc($value[$s]) if $step->[0];
    }
    return join("\t", ($Arg::job->{skip} ? "s" : "-"), @out) . "\n";
}

# The values of the line being measured (P, Q, L requests), from $line[1].
my @line = (undef);

# One request line; returns the answer line.
sub handle {
    my $line = shift;
    my ($kind, @f) = split /\t/, $line, -1;
    if ($kind eq "J" or $kind eq "P" or $kind eq "Q") {
        # J seq slot total nargs args... evals: a job's evaluations.
        # P (the same fields): a record pushed on the line being measured
        # (GNU's CommandLine::push), its values appended to @arg.
        # Q keep (then the same fields): a record taken back off the line
        # (CommandLine::pop), @arg cut to its first `keep` values first.
        # A record that dies as it is pushed leaves the line as it was
        # (Rust decides whether the line needed it, and clears the
        # failure with C if not).
        my $keep = $kind eq "Q" ? shift @f : 0;
        return "!\t" . esc($failed) . "\n" if defined $failed;
        my ($seq, $slot, $total, $n) = splice(@f, 0, 4);
        my @args = map { index($_, "\\") < 0 ? $_ : unesc($_) } splice(@f, 0, $n);
        my $evals = shift @f;
        $Arg::total = $total eq "" ? undef : $total;
        $Arg::job = bless { seq => $seq, slot => $slot, skip => 0 }, "forkpool::Job";
        # (@arg is the line itself, not a copy of it, as in GNU: a line of
        # many records is not copied once per record.)
        if ($kind eq "J") {
            *Arg::arg = [undef, @args];
        } elsif ($kind eq "P") {
            push @line, @args;
            *Arg::arg = \@line;
        } else {
            splice(@line, $keep + 1) if $keep + 1 < @line;
            *Arg::arg = \@line;
        }
        my $answer = evaluate_steps($evals, \@args);
        *Arg::arg = [];
        splice(@line, -$n) if $kind eq "P" and $n and defined $failed;
        return $answer;
    } elsif ($kind eq "C") {
        # The record that died was measured past its line's end: go on.
        undef $failed;
        return "ok\n";
    } elsif ($kind eq "L") {
        # A new line is measured: @arg starts empty ($arg[1] is the first).
        @line = (undef);
        return "";
    } elsif ($kind eq "K") {
        # K expr values...: each value's $_ after the expression (the keys
        # of --group-by, --shard, --bin), all in one answer line.
        return "!\t" . esc($failed) . "\n" if defined $failed;
        my $e = shift @f;
        my $sub = $subs[$e];
        $Arg::job ||= bless { seq => 1, slot => 1, skip => 0 }, "forkpool::Job";
        unesc_values(\@f, $line);
        my $ok = eval {
            # The values are keyed in place ($_ aliases each): a copy, a
            # check or a sub call per value is most of the cost of a
            # cheap expression.
            for (@f) {
                # The input line number, as GNU's filter reading with <>.
                $. = ++$keyline;
                $sub->($Arg::job);
            }
            1;
        };
        if (not $ok) {
            my $why = $@;
            $why = "died" if not defined $why or $why eq "";
            $failed = "$e\t$why";
            return "!\t" . esc($failed) . "\n";
        }
        for (@f) {
            $_ = "" if not defined;
            $_ = esc($_) if tr/\\\t\n//;
        }
        return join("\t", "k", @f) . "\n";
    } elsif ($kind eq "H") {
        # H expr bins values...: the --shard bin of each value as GNU's
        # sharder picks it, hex(B::hash($_)) % bins, $_ after expression
        # expr first if there is one; all in one answer line.
        return "!\t" . esc($failed) . "\n" if defined $failed;
        my $e = shift @f;
        my $bins = shift @f;
        my $sub = $e eq "" ? undef : $subs[$e];
        $Arg::job ||= bless { seq => 1, slot => 1, skip => 0 }, "forkpool::Job";
        require B;
        unesc_values(\@f, $line);
        my $ok = eval {
            # In place, as for K.
            if ($sub) {
                for (@f) {
                    $. = ++$keyline;
                    $sub->($Arg::job);
                    $_ = hex(B::hash($_)) % $bins;
                }
            } else {
                $_ = hex(B::hash($_)) % $bins for @f;
            }
            1;
        };
        if (not $ok) {
            my $why = $@;
            $why = "died" if not defined $why or $why eq "";
            $failed = "$e\t$why";
            return "!\t" . esc($failed) . "\n";
        }
        return join("\t", "h", @f) . "\n";
    } elsif ($kind eq "E") {
        push @code, unesc($f[0]);
        return "";
    } elsif ($kind eq "T") {
        $trim = $f[0];
        return "";
    } elsif ($kind eq "M") {
        $Global::max_jobs_running = $f[0];
        return "";
    } elsif ($kind eq "G") {
        for my $i (0 .. $#code) {
            $subs[$i] = Arg::compile_expression($code[$i]);
            if (not $subs[$i]) {
                return "!\t" . esc("$i\t$@") . "\n";
            }
        }
        return "ok\n";
    }
    return "!\t" . esc("-1\tforkpool perl: unknown request '$kind'") . "\n";
}

# Read what has arrived, answer every whole line of it in one write.
my $buf = "";
while (1) {
    my $n = sysread($chan, $buf, 1 << 16, length $buf);
    last if not $n;
    my $out = "";
    my $start = 0;
    while ((my $nl = index($buf, "\n", $start)) >= 0) {
        $out .= handle(substr($buf, $start, $nl - $start));
        $start = $nl + 1;
    }
    substr($buf, 0, $start) = "";
    while (length $out) {
        my $w = syswrite($chan, $out);
        exit 1 if not defined $w;
        substr($out, 0, $w) = "";
    }
}
exit 0;
