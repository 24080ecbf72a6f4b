"""Token counts and packed token shards: what a training mix is measured in (issue 19)."""
