import path from 'node:path';
import { loadChecked } from '../../core/load-checked.js';
import { displayPath, loadCatalog } from '../../images/catalog.js';
import type { LoadContext } from './load.js';
import { scenariosDir } from './load.js';
import { QuestionsSchema, type QuestionsFile } from './schema.js';

export type Question = QuestionsFile['questions'][number];

export const questionsFile = path.join(scenariosDir, 'questions.yaml');

export async function loadQuestions(file = questionsFile): Promise<Question[]> {
  const { value } = await loadChecked(file, displayPath(file), QuestionsSchema);
  return value.questions;
}

/** Everything a scenario is checked against: the image catalog and the question ids. */
export async function loadContext(): Promise<LoadContext & { questions: Question[] }> {
  const [catalog, questions] = await Promise.all([loadCatalog(), loadQuestions()]);
  return { catalog, questions, questionIds: new Set(questions.map((q) => q.id)) };
}
