// NodeStore of the embedded store: one edge process, so the registry holds that node alone, in its memory.
// The Redis store shares the registry between nodes (redis/nodes.ts).
import type { NodeRecord, NodeStore } from '../types.ts';

export class MemoryNodeStore implements NodeStore {
  private readonly nodes = new Map<string, NodeRecord>();

  async put(rec: NodeRecord): Promise<void> {
    this.nodes.set(rec.id, rec);
  }

  async list(): Promise<NodeRecord[]> {
    return [...this.nodes.values()];
  }

  async remove(id: string): Promise<boolean> {
    return this.nodes.delete(id);
  }
}
