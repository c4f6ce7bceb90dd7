#!/bin/sh
# A stand-in for an agent CLI (claude, codex or gemini, by the name it is
# run as): keeps its arguments, working folder and prompt under
# $STANDIN_LOG (else its working folder), then prints what the real CLI
# prints in its JSON mode.
name=$(basename "$0")
STANDIN_LOG=${STANDIN_LOG:-$PWD}
n=$(ls "$STANDIN_LOG" | grep -c "^$name\..*\.args$")
n=$((n + 1))
printf '%s\n' "$@" > "$STANDIN_LOG/$name.$n.args"
pwd > "$STANDIN_LOG/$name.$n.cwd"
env | sort > "$STANDIN_LOG/$name.$n.env"
cat > "$STANDIN_LOG/$name.$n.prompt"
case "$name" in
claude)
  printf '{"type":"result","subtype":"success","is_error":false,"result":"reply %s from claude","session_id":"sess-%s","total_cost_usd":0.0125,"usage":{"input_tokens":100,"cache_read_input_tokens":40,"cache_creation_input_tokens":0,"output_tokens":7}}\n' "$n" "$n"
  ;;
codex)
  printf '{"type":"thread.started","thread_id":"thr-%s"}\n{"type":"turn.started"}\n{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"reply %s from codex"}}\n{"type":"turn.completed","usage":{"input_tokens":90,"cached_input_tokens":10,"output_tokens":5}}\n' "$n" "$n"
  ;;
gemini)
  printf '{"session_id":"g-%s","response":"reply %s from gemini","stats":{"models":{"m":{"tokens":{"prompt":80,"candidates":4,"cached":0}}}}}\n' "$n" "$n"
  ;;
esac
