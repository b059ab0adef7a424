//! Input sources that read one stream: standard input named by more than
//! one `::::` or `-a`.

use super::gnu::same_as_gnu;
use super::*;

#[test]
fn stdin_named_twice_is_one_stream_the_sources_take_turns_at_as_in_gnu_parallel() {
    // GNU parallel reads a first item for every source, then the last
    // source to the end: `a` goes to the first source, the rest to the
    // second.
    for input in [&b"a\nb\n"[..], b"a\nb\nc\nd\ne\n", b"a\n", b""] {
        same_as_gnu(&["-k", "echo", "::::", "-", "::::", "-"], input);
        same_as_gnu(&["-k", "echo", "::::", "-", ":::", "x", "y", "::::", "-"], input);
        same_as_gnu(&["-k", "echo", "::::", "-", "::::", "-", "::::", "-"], input);
        same_as_gnu(&["-k", "-a", "-", "-a", "-", "echo"], input);
    }
    let r = same_as_gnu(&["-k", "echo", "::::", "-", "::::", "-"], b"a\nb\nc\n");
    assert_eq!(r.stdout, "a b\na c\n");
    // With --link they read an item each in turn, and the shorter wraps.
    for input in [&b"a\nb\n"[..], b"a\nb\nc\nd\ne\n", b""] {
        same_as_gnu(&["-k", "--link", "echo", "::::", "-", "::::", "-"], input);
    }
}

#[test]
fn stdin_linked_twice_with_one_line_runs_nothing_where_gnu_parallel_dies() {
    // GNU parallel 20221122 dies of a Perl error here ("Can't call method
    // "orig" on an undefined value", exit 255); forkpool's second source
    // is empty, and --link over an empty source runs no job.
    let r = run_with(&["--link", "echo", "::::", "-", "::::", "-"], b"a\n");
    assert_eq!((r.stdout.as_str(), r.code), ("", 0), "{}", r.stderr);
}

#[test]
fn a_plus_links_its_source_to_the_one_before_even_after_an_arg_file() {
    // `:::+` links its values to the source just before it, as `man
    // parallel` says: `x 1`, `y 2`, crossed with the -a file's lines. GNU
    // parallel 20221122 counts the `+` links among the `:::` groups only,
    // so with an -a file first it links the file to `x y` instead (README).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("files");
    std::fs::write(&file, "f1\nf2\n").unwrap();
    let file = file.to_str().unwrap();
    let r = run_with(&["-k", "-a", file, "echo", ":::", "x", "y", ":::+", "1", "2"], b"");
    assert_eq!(
        (r.stdout.as_str(), r.code),
        ("f1 x 1\nf1 y 2\nf2 x 1\nf2 y 2\n", 0),
        "{}",
        r.stderr
    );
    // Without the -a file, both agree.
    same_as_gnu(
        &["-k", "echo", ":::", "f1", "f2", ":::", "x", "y", ":::+", "1", "2"],
        b"",
    );
}

#[test]
fn a_first_separator_with_nothing_after_it_is_dropped_as_in_gnu_parallel() {
    // GNU parallel's loop over the words drops a `:::` (`::::`, `:::+`)
    // that is the first separator and the last word: the input is then
    // standard input, or the `-a` files.
    let d = Dir::new();
    let file = d.file("ab", "a\nb\n");
    for sep in [":::", "::::", ":::+"] {
        let r = same_as_gnu(&["-k", "echo", sep], b"x y\nz\n");
        assert_eq!(r.stdout, "x y\nz\n", "{sep}");
        let r = same_as_gnu(&["-k", "-a", &file, "echo", sep], b"");
        assert_eq!(r.stdout, "a\nb\n", "{sep}");
    }
    let r = same_as_gnu(&["--pipe", "wc", "-l", ":::"], b"1\n2\n3\n");
    assert_eq!(r.stdout, "3\n");
    // An empty group after another one is an empty source, in both.
    let r = same_as_gnu(&["-k", "echo", "::::", &file, ":::"], b"");
    assert_eq!(r.stdout, "a \nb \n");
    let r = same_as_gnu(&["-k", "echo", ":::", "x", ":::"], b"");
    assert_eq!(r.stdout, "x \n");
}

#[test]
fn an_empty_values_group_is_one_empty_value_also_when_linked_as_in_gnu_parallel() {
    // GNU parallel reads an empty `:::` group as one empty value: in the
    // product (as before) and linked by `:::+`, where it pairs with the
    // first value of the group before (forkpool used to run no job, or
    // to blank that group's values).
    for args in [
        &["-k", "--dry-run", "echo", ":::", "x", "y", ":::+"][..],
        &["-k", "--dry-run", "echo", ":::", ":::+", "a"],
        &["-k", "--dry-run", "echo", ":::", "a", "b", ":::+", ":::", "c"],
        &["-k", "--dry-run", "echo", ":::", ":::", "a"],
    ] {
        same_as_gnu(args, b"");
    }
    let r = same_as_gnu(&["-k", "--dry-run", "echo", ":::", "x", "y", ":::+"], b"");
    assert_eq!(r.stdout, "echo x ''\n");
}
