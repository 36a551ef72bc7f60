"""The keys of the current step, on the bottom line: what Textual's Footer shows, as one widget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

DIVIDER = "▏"  # the left edge of the command palette's key, as Footer draws it (a vkey border)


class FooterKey(NamedTuple):
    """One key as drawn: `start`/`end` are its cells on the line."""

    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str
    start: int
    end: int


class StepFooter(Widget, can_focus=False):
    """The screen's active key bindings on one line, as Textual's Footer draws them: key and
    description, disabled keys dim, the command palette's key on the right; a click presses the
    key, hovering highlights it and shows its tooltip.

    Textual's Footer is a container with a widget per key, built after the screen's first frame
    and rebuilt whenever the bindings change, so a step's start laid out and drew its screen twice
    and styled a widget per key. This one draws the line from `screen.active_bindings` and only
    repaints when they change. Binding groups are drawn as separate keys (the wizard has none).
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {
        "step-footer--key",
        "step-footer--description",
        "step-footer--hover",
        "step-footer--divider",
    }
    DEFAULT_CSS = """
    StepFooter {
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        &.-over-key { pointer: pointer; }
        & > .step-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .step-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .step-footer--hover { background: $block-hover-background; }
        & > .step-footer--divider { color: $foreground 20%; }
    }
    """

    def __init__(self, *, show_command_palette: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_command_palette = show_command_palette
        self._keys: tuple[list[FooterKey], FooterKey | None] | None = None
        self._hover: FooterKey | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        # As Footer: ignore the changes while the terminal has lost the focus (the focused
        # widget is blurred then, and the keys would flicker).
        if not screen.app.app_focus:
            return
        keys = self._layout_keys()
        if keys != self._keys:
            self._keys = keys
            self._hover = None
            self.refresh()

    def _layout_keys(self) -> tuple[list[FooterKey], FooterKey | None]:
        """The keys shown, left to right, and the command palette's key (drawn on the right)."""
        app = self.app
        active = self.screen.active_bindings
        first_per_action: dict[str, tuple[Any, bool, str]] = {}
        for _, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in first_per_action:
                first_per_action[binding.action] = (binding, enabled, tooltip)
        keys: list[FooterKey] = []
        x = 0
        for binding, enabled, tooltip in first_per_action.values():
            display = app.get_key_display(binding)
            # " key " then "description " (or the bare key when there is no description).
            width = cell_len(display) + 2 + cell_len(binding.description) + 1 if binding.description else cell_len(display)
            keys.append(FooterKey(binding.key, display, binding.description, enabled, tooltip or "", x, x + width))
            x += width
        palette: FooterKey | None = None
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            found = active.get(app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _, binding, enabled, _ = found
                display = app.get_key_display(binding)
                # "▏key description " against the right edge.
                width = 1 + cell_len(display) + 1 + cell_len(binding.description) + 1
                palette = FooterKey(
                    binding.key, display, binding.description, enabled,
                    binding.tooltip or binding.description, -width, 0,
                )
        return keys, palette

    @property
    def shown_keys(self) -> tuple[list[FooterKey], FooterKey | None]:
        if self._keys is None:
            self._keys = self._layout_keys()
        return self._keys

    def _key_segments(self, key: FooterKey, palette: bool) -> list[Segment]:
        key_style = self.get_component_rich_style("step-footer--key")
        description_style = self.get_component_rich_style("step-footer--description")
        if not key.enabled:
            key_style = Style(dim=True) + key_style
            description_style = Style(dim=True) + description_style
        if key is self._hover:
            key_style += self._hover_style()
            description_style += self._hover_style()
        if palette:
            return [Segment(key.display, key_style), Segment(f" {key.description}", description_style)]
        if not key.description:
            return [Segment(key.display, key_style)]
        return [Segment(f" {key.display} ", key_style), Segment(f"{key.description} ", description_style)]

    def _hover_style(self) -> Style:
        return Style(bgcolor=self.get_component_rich_style("step-footer--hover").bgcolor)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        blank = Style(bgcolor=self.rich_style.bgcolor)
        if y != 0:
            return Strip.blank(width, blank)
        keys, palette = self.shown_keys
        segments: list[Segment] = []
        for key in self._keys_that_fit(keys, palette):
            segments.extend(self._key_segments(key, palette=False))
        left = Strip(segments)
        if palette is None:
            return left.adjust_cell_length(width, blank)
        # The whole of the palette's key is highlighted, its edge and padding too (as Footer does).
        edge = blank + self._hover_style() if palette is self._hover else blank
        right = [
            Segment(DIVIDER, self.get_component_rich_style("step-footer--divider") + edge),
            *self._key_segments(palette, palette=True),
            Segment(" ", edge),
        ]
        room = max(0, width + palette.start)
        return Strip([*left.adjust_cell_length(room, blank), *right]).crop(0, width)

    def _keys_that_fit(self, keys: list[FooterKey], palette: FooterKey | None) -> list[FooterKey]:
        """The keys drawn whole left of the palette's key: on a narrow terminal the last ones are
        left out rather than cut in half under it."""
        room = self.size.width + (palette.start if palette is not None else 0)
        return [key for key in keys if key.end <= room]

    def key_at(self, x: int) -> FooterKey | None:
        keys, palette = self.shown_keys
        if palette is not None and x >= self.size.width + palette.start:
            return palette
        for key in self._keys_that_fit(keys, palette):
            if key.start <= x < key.end:
                return key
        return None

    def _set_hover(self, key: FooterKey | None) -> None:
        if key is not self._hover:
            self._hover = key
            self.set_class(key is not None, "-over-key")
            self.tooltip = key.tooltip or None if key is not None else None
            self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self.key_at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self.key_at(event.x)
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()
