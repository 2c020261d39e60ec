"""A Tk app that reports every input it receives, for the sandbox's own tests.

The window fills the screen: the top half is a canvas that logs pointer events (with root
coordinates) and keys; the bottom half is a Text widget whose whole content is logged after
every change. Each event is one JSON line appended to the log file given as argv[1].
"""

import json
import sys
import tkinter as tk

log = open(sys.argv[1], "a", encoding="utf-8", buffering=1)


def emit(**event):
    log.write(json.dumps(event, ensure_ascii=False) + "\n")


root = tk.Tk()
root.title("probe")
w, h = root.winfo_screenwidth(), root.winfo_screenheight()
root.attributes("-fullscreen", True)
canvas = tk.Canvas(root, width=w, height=h // 2, bg="white", highlightthickness=0)
canvas.pack(side="top", fill="x")
text = tk.Text(root, font=("DejaVu Sans Mono", 12), undo=False)
text.pack(side="top", fill="both", expand=True)

for seq, kind in (("<ButtonPress>", "press"), ("<ButtonRelease>", "release")):
    canvas.bind(seq, lambda e, kind=kind: emit(ev=kind, x=e.x_root, y=e.y_root, button=e.num, state=e.state))
canvas.bind("<B1-Motion>", lambda e: emit(ev="drag", x=e.x_root, y=e.y_root))
canvas.bind("<Double-Button-1>", lambda e: emit(ev="double", x=e.x_root, y=e.y_root))
canvas.bind("<Triple-Button-1>", lambda e: emit(ev="triple", x=e.x_root, y=e.y_root))
root.bind_all("<KeyPress>", lambda e: emit(ev="key", keysym=e.keysym, char=e.char, state=e.state))
root.bind_all("<KeyRelease>", lambda e: emit(ev="keyup", keysym=e.keysym))


def on_change(_event=None):
    if text.edit_modified():
        emit(ev="text", value=text.get("1.0", "end-1c"))
        text.edit_modified(False)


text.bind("<<Modified>>", on_change)


def ready():
    canvas.focus_set()
    emit(ev="ready", width=root.winfo_width(), height=root.winfo_height(),
         text_y=text.winfo_rooty(), screen=[w, h])


root.after(50, lambda: root.after_idle(ready))
root.mainloop()
