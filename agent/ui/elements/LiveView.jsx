// The live desktop beside Agent mode's steps (agent/ui/watch.py sends the props; Chainlit runs this file).
// props: src (the noVNC page, same origin), control (input allowed), state, label, problem, width, height.
import { Button } from "@/components/ui/button";

export default function LiveView() {
  const state = props.state;
  const run = (what) => callAction({ name: "live_control", payload: { do: what } });
  if (props.problem) {
    return <div id="live-view" className="text-sm text-muted-foreground">The live view is not available: {props.problem}</div>;
  }
  return (
    <div id="live-view" data-state={state} data-control={props.control ? "yes" : "no"} className="flex flex-col gap-2 w-full">
      <div id="live-view-label" className="text-sm">{props.label}</div>
      {props.src ? (
        <iframe id="live-view-frame" key={props.src} src={props.src} title="live desktop"
          style={{ width: "100%", aspectRatio: `${props.width} / ${props.height + 36}`,
                   border: props.control ? "3px solid #d97706" : "1px solid #ccc", borderRadius: "6px" }} />
      ) : null}
      {state === "ended" ? null : <div className="flex gap-2">
        <Button id="live-pause" variant="outline" disabled={state !== "running"} onClick={() => run("pause")}>Pause</Button>
        <Button id="live-takeover" variant="outline" disabled={state === "ended" || state === "taken over"}
          onClick={() => run("takeover")}>Take over</Button>
        <Button id="live-resume" disabled={state === "running" || state === "ended"} onClick={() => run("resume")}>Resume</Button>
      </div>}
    </div>
  );
}
