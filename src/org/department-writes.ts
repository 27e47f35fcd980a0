import { randomUUID } from 'node:crypto'
import { sql, type Selectable } from 'kysely'
import type { DepartmentsTable } from '../db/schema'
import { conflict, forbidden, invalid, notFound, sqlState } from '../errors'
import { joinIdPath, joinPath } from '../department-path'
import { displayPath, parkedName, parking, parkingIfAny } from './parked-names'
import { toDepartment, type Department } from './records'
import { cleanOptionalText, cleanText, isUuid, requireUuid, type WriteContext } from './write-context'

export interface NewDepartment {
  name: string
  parentId?: string | null
  /** A virtual department is made by an admin and never touched by any sync. */
  virtual?: boolean
  sourceId?: string | null
  externalId?: string | null
}

type Row = Selectable<DepartmentsTable>

async function findRow(ctx: WriteContext, id: string): Promise<Row | undefined> {
  if (!isUuid(id)) return undefined
  return ctx.trx.selectFrom('departments').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
}

async function requireRow(ctx: WriteContext, id: string): Promise<Row> {
  const row = await findRow(ctx, id)
  if (!row) throw notFound(`department ${id} does not exist`)
  return row
}

async function requireParent(ctx: WriteContext, parentId: string): Promise<Row> {
  const row = await findRow(ctx, requireUuid(parentId, 'parentId'))
  if (!row) throw invalid(`parent department ${parentId} does not exist`)
  return row
}

function guardVirtual(ctx: WriteContext, row: Row): void {
  if (row.virtual && ctx.actor.type === 'source') {
    throw forbidden(
      `department "${displayPath(ctx, row.path)}" is virtual: only an admin may change it, never a sync`,
    )
  }
}

function siblingConflict(ctx: WriteContext, err: unknown, name: string, parent: Row | null): unknown {
  if (sqlState(err) === '23505') {
    return conflict(
      `a department named "${name}" already exists under ${parent ? `"${displayPath(ctx, parent.path)}"` : 'the root'}`,
    )
  }
  return err
}

/** The department as it reads outside the transaction's parking: its real name and path. */
function shown(ctx: WriteContext, row: Row): Department {
  const department = toDepartment(row)
  const parked = parkingIfAny(ctx)?.departments.get(row.id)
  return {
    ...department,
    name: parked ?? department.name,
    path: displayPath(ctx, department.path),
  }
}

export async function createDepartment(ctx: WriteContext, input: NewDepartment): Promise<Department> {
  const name = cleanText(input.name, 'department name')
  const virtual = input.virtual ?? false
  const sourceId = input.sourceId ? requireUuid(input.sourceId, 'sourceId') : null
  if (virtual && sourceId) throw invalid('a virtual department cannot belong to a source')
  await ctx.lock('department-tree')
  const parent = input.parentId ? await requireParent(ctx, input.parentId) : null
  const id = randomUUID()
  let row: Row
  try {
    row = await ctx.trx
      .insertInto('departments')
      .values({
        id,
        parent_id: parent?.id ?? null,
        name,
        path: joinPath(parent?.path ?? null, name),
        id_path: joinIdPath(parent?.id_path ?? null, id),
        depth: parent ? parent.depth + 1 : 0,
        virtual,
        source_id: sourceId,
        external_id: cleanOptionalText(input.externalId, 'externalId', 1024),
      })
      .returningAll()
      .executeTakeFirstOrThrow()
  } catch (err) {
    if (sqlState(err) === '23503') throw invalid(`source ${sourceId} does not exist`)
    throw siblingConflict(ctx, err, name, parent)
  }
  const department = shown(ctx, row)
  await ctx.audit({ action: 'department.create', targetType: 'department', targetId: id, after: department })
  return department
}

/**
 * Rewrites path, id path and depth of a department and its whole subtree in one statement. People
 * point at departments by id, so they need no update however many there are.
 */
async function rewriteSubtree(
  ctx: WriteContext,
  row: Row,
  next: { parentId: string | null; name: string; path: string; idPath: string; depth: number },
  options: { version: boolean } = { version: true },
): Promise<{ row: Row; subtreeSize: number }> {
  // Lengths are taken in SQL: Postgres counts characters where JavaScript counts UTF-16 units.
  const result = await ctx.trx
    .updateTable('departments')
    .set({
      path: sql<string>`${next.path}::text || substr(path, length(${row.path}::text) + 1)`,
      id_path: sql<string>`${next.idPath}::text || substr(id_path, length(${row.id_path}::text) + 1)`,
      depth: sql<number>`depth + ${next.depth - row.depth}::int`,
    })
    .where('id_path', 'like', `${row.id_path}%`)
    .executeTakeFirst()
  const updated = await ctx.trx
    .updateTable('departments')
    .set({
      parent_id: next.parentId,
      name: next.name,
      // Parking and unparking are no change of their own: the change they make room for counts.
      ...(options.version ? { version: sql<number>`version + 1`, updated_at: sql`now()` } : {}),
    })
    .where('id', '=', row.id)
    .returningAll()
    .executeTakeFirstOrThrow()
  return { row: updated, subtreeSize: Number(result.numUpdatedRows) }
}

export async function renameDepartment(ctx: WriteContext, id: string, newName: string): Promise<Department> {
  const name = cleanText(newName, 'department name')
  await ctx.lock('department-tree')
  const row = await requireRow(ctx, id)
  guardVirtual(ctx, row)
  const meanwhile = parkingIfAny(ctx)?.departments.get(row.id)
  if (meanwhile !== undefined) return renameParked(ctx, row, meanwhile, name)
  if (row.name === name) return shown(ctx, row)
  const result = await renameWhereItStands(ctx, row, name, { version: true })
  const department = shown(ctx, result.row)
  await ctx.audit({
    action: 'department.rename',
    targetType: 'department',
    targetId: id,
    before: { name: row.name, path: displayPath(ctx, row.path) },
    after: { name: department.name, path: department.path, subtreeSize: result.subtreeSize },
  })
  return department
}

/**
 * A parked department keeps its temporary name until the transaction unparks it: a rename only
 * changes the name it will get then (whether that name is free is checked then, against the final
 * tree). Audited as the rename it is.
 */
async function renameParked(
  ctx: WriteContext,
  row: Row,
  meanwhile: string,
  name: string,
): Promise<Department> {
  if (meanwhile === name) return shown(ctx, row)
  const before = { name: meanwhile, path: displayPath(ctx, row.path) }
  parking(ctx).departments.set(row.id, name)
  const updated = await ctx.trx
    .updateTable('departments')
    .set({ version: sql<number>`version + 1`, updated_at: sql`now()` })
    .where('id', '=', row.id)
    .returningAll()
    .executeTakeFirstOrThrow()
  const { size } = await ctx.trx
    .selectFrom('departments')
    .select((eb) => eb.fn.countAll<number>().as('size'))
    .where('id_path', 'like', `${row.id_path}%`)
    .executeTakeFirstOrThrow()
  const department = shown(ctx, updated)
  await ctx.audit({
    action: 'department.rename',
    targetType: 'department',
    targetId: row.id,
    before,
    after: { name: department.name, path: department.path, subtreeSize: Number(size) },
  })
  return department
}

export async function moveDepartment(
  ctx: WriteContext,
  id: string,
  newParentId: string | null,
): Promise<Department> {
  await ctx.lock('department-tree')
  const row = await requireRow(ctx, id)
  guardVirtual(ctx, row)
  const parent = newParentId ? await requireParent(ctx, newParentId) : null
  if ((parent?.id ?? null) === row.parent_id) return shown(ctx, row)
  if (parent && parent.id_path.startsWith(row.id_path)) {
    throw invalid(
      `cannot move "${displayPath(ctx, row.path)}" into its own subtree ("${displayPath(ctx, parent.path)}")`,
    )
  }
  let result
  try {
    result = await rewriteSubtree(ctx, row, {
      parentId: parent?.id ?? null,
      name: row.name,
      path: joinPath(parent?.path ?? null, row.name),
      idPath: joinIdPath(parent?.id_path ?? null, row.id),
      depth: parent ? parent.depth + 1 : 0,
    })
  } catch (err) {
    throw siblingConflict(ctx, err, shown(ctx, row).name, parent)
  }
  const department = shown(ctx, result.row)
  await ctx.audit({
    action: 'department.move',
    targetType: 'department',
    targetId: id,
    before: { parentId: row.parent_id, path: displayPath(ctx, row.path) },
    after: { parentId: department.parentId, path: department.path, subtreeSize: result.subtreeSize },
  })
  return department
}

/** Deletes an empty department; one with sub-departments or people is refused, never cascaded. */
export async function deleteDepartment(ctx: WriteContext, id: string): Promise<void> {
  await ctx.lock('department-tree')
  const row = await requireRow(ctx, id)
  guardVirtual(ctx, row)
  const { children } = await ctx.trx
    .selectFrom('departments')
    .select((eb) => eb.fn.countAll<number>().as('children'))
    .where('parent_id', '=', id)
    .executeTakeFirstOrThrow()
  const { people } = await ctx.trx
    .selectFrom('people')
    .select((eb) => eb.fn.countAll<number>().as('people'))
    .where('department_id', '=', id)
    .executeTakeFirstOrThrow()
  if (Number(children) > 0 || Number(people) > 0) {
    throw conflict(
      `department "${displayPath(ctx, row.path)}" is not empty (${children} sub-departments, ${people} people): move them first`,
    )
  }
  const before = shown(ctx, row)
  await ctx.trx.deleteFrom('departments').where('id', '=', id).execute()
  parkingIfAny(ctx)?.departments.delete(row.id)
  await ctx.audit({
    action: 'department.delete',
    targetType: 'department',
    targetId: id,
    before,
  })
}

/** Moves and/or renames in one go (the admin API's PATCH). */
export async function updateDepartment(
  ctx: WriteContext,
  id: string,
  patch: { name?: string; parentId?: string | null },
): Promise<Department> {
  let department: Department | undefined
  if (patch.parentId !== undefined) department = await moveDepartment(ctx, id, patch.parentId)
  if (patch.name !== undefined) department = await renameDepartment(ctx, id, patch.name)
  return department ?? shown(ctx, await requireRow(ctx, id))
}

/**
 * Moves departments out of the way for the rest of the transaction (see parked-names): each keeps
 * its place in the tree under a temporary name that collides with nothing, so the transaction's
 * renames and moves can take the names they give up in any order. Renames, moves and deletes of a
 * parked department work as usual and are audited as usual; unparkDepartments gives each its name
 * (its last rename's, else its own) once they are all done. No audit event and no new version of
 * its own: parking is no change anyone asked for.
 */
export async function parkDepartments(ctx: WriteContext, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return
  await ctx.lock('department-tree')
  const parked = parking(ctx).departments
  for (const id of ids) {
    if (parked.has(id)) continue
    const row = await requireRow(ctx, id)
    guardVirtual(ctx, row)
    await renameWhereItStands(ctx, row, parkedName(row.id))
    parked.set(row.id, row.name)
  }
}

/**
 * Gives every department parked in this transaction its name back, where it is now: the name of
 * its last rename, else its own. A name another department holds in the final tree is the same
 * clear conflict a rename into it would be.
 */
export async function unparkDepartments(ctx: WriteContext): Promise<void> {
  const parked = parkingIfAny(ctx)?.departments
  if (!parked || parked.size === 0) return
  await ctx.lock('department-tree')
  // Shallowest first, so each one's parent already has its real path.
  const order = await ctx.trx
    .selectFrom('departments')
    .select('id')
    .where('id', 'in', [...parked.keys()])
    .orderBy('depth')
    .execute()
  for (const { id } of order) await renameWhereItStands(ctx, await requireRow(ctx, id), parked.get(id)!)
  parked.clear()
}

/**
 * Renames a department where it stands, subtree paths included; a sibling holding the name is a
 * conflict. Without a new version when parking or unparking, which is no change of its own.
 */
async function renameWhereItStands(
  ctx: WriteContext,
  row: Row,
  name: string,
  options: { version: boolean } = { version: false },
): Promise<{ row: Row; subtreeSize: number }> {
  const parent = row.parent_id ? await requireRow(ctx, row.parent_id) : null
  try {
    return await rewriteSubtree(
      ctx,
      row,
      {
        parentId: row.parent_id,
        name,
        path: joinPath(parent?.path ?? null, name),
        idPath: row.id_path,
        depth: row.depth,
      },
      options,
    )
  } catch (err) {
    throw siblingConflict(ctx, err, name, parent)
  }
}
