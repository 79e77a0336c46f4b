"""One comma-list parser serves every bench command's list options."""
import argparse

import pytest

from sanny.bench import churn_cli, cli, serve_cli
from sanny.bench.arglists import choices, comma_list


def test_items_are_kept_once_in_order_and_blanks_dropped():
    assert choices(("a", "b", "c"))(" c, a,,c ,b") == ["c", "a", "b"]


@pytest.mark.parametrize("parse, text, named", [
    (choices(("a", "b")), "a,z", "'z'"),
    (comma_list(str.isdigit, "digits"), "1,x,2,y", "'x', 'y'"),
    (choices(("a",)), " , ", "empty list"),
])
def test_bad_items_are_named_with_what_to_use(parse, text, named):
    with pytest.raises(argparse.ArgumentTypeError, match="unknown") as e:
        parse(text)
    assert named in str(e.value) and "use" in str(e.value)


def test_the_commands_parse_their_lists():
    assert churn_cli._modes("grpc2,embedded,grpc2") == ["grpc2", "embedded"]
    assert serve_cli._modes("ray2,netns3") == ["ray2", "netns3"]
    assert serve_cli._distributed("inproc,grpc2") == ["inproc", "grpc2"] and serve_cli._distributed("none") == []
    assert cli._names("sanny,hnsw") == ["sanny", "hnsw"]
    for bad in (lambda: churn_cli._modes("ray2"), lambda: serve_cli._modes("inproc"), lambda: cli._names("nope")):
        with pytest.raises(argparse.ArgumentTypeError):
            bad()
