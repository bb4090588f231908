/** A few DOM helpers: enough to build the dashboard's views without a framework. */

/** What `h` accepts as children; null, undefined and false render nothing. */
export type Child = Node | string | number | null | undefined | false | Child[];

/** Attributes and event handlers of `h`: `on<event>` functions listen, `class` sets className. */
export type Props = Record<string, unknown>;

/** Creates an element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    else if (key === 'class') element.className = String(value);
    // Form state is a property, not an attribute: setAttribute('value') would not change what is shown.
    else if (key === 'value' || key === 'checked' || key === 'selected') (element as unknown as Record<string, unknown>)[key] = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children (flattening arrays, skipping empty ones). */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A mounted view: its root element, and how to stop its subscriptions and timers. */
export interface View {
  readonly element: HTMLElement;
  dispose(): void;
}
