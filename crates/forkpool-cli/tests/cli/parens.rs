//! `--parens`: the parentheses of a perl expression, split as GNU
//! parallel splits them, and messages that quote an expression as typed.

use super::gnu::gnu_with;
use super::*;

#[test]
fn a_bad_expression_is_quoted_in_the_parentheses_typed() {
    // GNU parallel names the code between the parentheses ("Cannot use
    // = s/a/ =: ..."); forkpool quotes the user's text around it, as
    // typed, not in `{= =}` it was never typed in.
    for (parens, typed) in [
        ("[[]]", "[[= s/a/ =]]"),
        ("[[]]", "[[= die =]]"),
        ("[[]]", "[[=1 die =]]"),
        ("[[]]", "[[  s/a/  ]]"),
        ("<>", "<= s/a/ =>"),
        ("{==}", "{=s/a/=}"),
    ] {
        let args = ["--parens", parens, "echo", typed, ":::", "a"];
        let ours = run(&args);
        let theirs = gnu_with(&args, b"");
        assert_eq!((ours.code, theirs.code), (255, 255), "{args:?}: {ours:?} {theirs:?}");
        let code = theirs
            .stderr
            .strip_prefix("parallel: Error: Cannot use ")
            .and_then(|m| m.split_once(": "))
            .map(|(code, _)| code)
            .unwrap_or_else(|| panic!("{args:?}: GNU said {}", theirs.stderr));
        assert!(typed.contains(code.trim()), "{args:?}: GNU names {code:?}");
        let said = format!("forkpool: Error: Cannot use {typed}: ");
        assert!(ours.stderr.starts_with(&said), "{args:?}: {}", ours.stderr);
        assert_eq!(ours.stderr.lines().count(), 1, "{args:?}: {}", ours.stderr);
    }
    // One that dies on a job (GNU dies with perl's own line).
    let r = run(&[
        "--parens",
        "[[]]",
        "-k",
        "echo",
        "[[$_ eq 'b' and die qq(no\\n)]]",
        ":::",
        "a",
        "b",
    ]);
    assert_eq!((r.stdout.as_str(), r.code), ("a\n", 255));
    assert_eq!(
        r.stderr,
        "forkpool: Error: [[$_ eq 'b' and die qq(no\\n)]] died in job 2: no\n"
    );
}
