/**
 * A stream example, registered by `npm start`: `tellStory` "generates" a short story about a
 * topic and streams it word by word with small delays, as an LLM streams its tokens. Open its
 * execution in the dashboard and the text grows under Streams; `senpuki watch <id> --stream
 * story` prints it in a terminal; `client.stream(id, 'story')` reads it in a browser.
 *
 * The text is made from the topic alone (a seeded generator), so a re-run after a crash writes
 * the same words and the stream goes on where it was, without repeating any.
 */
import { NonRetryableError } from '../server/errors.js';
import { abortableDelay } from '../server/support/timers.js';
import { defineDurable } from '../server/engine/registry.js';

const OPENINGS = ['Once upon a time', 'Long ago', 'In a quiet town by the sea', 'On the first cold morning of the year', 'Far beyond the hills'];
const HEROES = ['a curious fox', 'an old clockmaker', 'a lighthouse keeper', 'a girl with a red umbrella', 'a tired dragon'];
const DEEDS = ['set out to find', 'dreamed every night of', 'built, piece by piece,', 'was searching for', 'kept a secret about'];
const MIDDLES = [
  'The road was longer than any map had promised.',
  'Nobody believed it could be done, and that made it worth doing.',
  'Every evening the wind told a different version of the tale.',
  'There were wrong turns, small kindnesses and one very loud storm.',
  'Along the way came a friend who asked too many questions.',
];
const ENDINGS = [
  'And when it was over, everything was a little brighter than before.',
  'In the end the answer had been at home all along.',
  'They still tell the story on long winter nights.',
  'It was not the ending anyone expected, but it was a good one.',
];

/** A small deterministic generator (mulberry32): the same topic always tells the same story. */
function seededRandom(text: string): () => number {
  let seed = [...text].reduce((hash, char) => Math.imul(hash ^ char.charCodeAt(0), 16_777_619), 2_166_136_261) >>> 0;
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The story about `topic`, at least `minWords` long. */
export function storyAbout(topic: string, minWords: number): string {
  const random = seededRandom(topic);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const sentences = [`${pick(OPENINGS)}, ${pick(HEROES)} ${pick(DEEDS)} ${topic}.`];
  while (sentences.join(' ').split(' ').length < minWords - 12) sentences.push(pick(MIDDLES));
  sentences.push(pick(ENDINGS));
  return sentences.join(' ');
}

/**
 * Streams a story about `topic` to the stream `story`, one word (with its space) at a time, 40 to
 * 120 ms apart; reports progress, and returns the whole text.
 */
export const tellStory = defineDurable(
  'tellStory',
  async (ctx, topic: string, minWords: number = 60) => {
    if (typeof topic !== 'string' || topic.trim() === '') throw new NonRetryableError('topic must be a non-empty string');
    const words = storyAbout(topic.trim(), Math.min(Math.max(minWords, 10), 2000)).split(' ');
    const story = ctx.stream<string>('story');
    for (const [index, word] of words.entries()) {
      await story.write(index === 0 ? word : ` ${word}`);
      ctx.progress(index + 1, words.length);
      await abortableDelay(40 + Math.random() * 80, ctx.signal);
    }
    await story.close();
    return { topic, words: words.length, text: words.join(' ') };
  },
  { description: 'Stream a generated story word by word (open it to watch the text grow)' },
);

export const exampleArgs: Record<string, unknown[]> = {
  tellStory: ['the lost lighthouse', 60],
};
