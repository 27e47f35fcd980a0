import { Ber, BerWriter, Control, type BerReader } from 'ldapts'

/** DirSync flag: an account without admin rights (only "Replicating Directory Changes") may ask. */
export const LDAP_DIRSYNC_OBJECT_SECURITY = 0x1

export const DIRSYNC_OID = '1.2.840.113556.1.4.841'

/**
 * AD's DirSync control (MS-ADTS 3.1.1.3.4.1.3). The request value is the BER of
 * SEQUENCE { flags INTEGER, maxAttributeCount INTEGER, cookie OCTET STRING }; the server answers
 * with SEQUENCE { moreData INTEGER, unused INTEGER, cookie OCTET STRING }, which ldapts parses into
 * this same instance (the request control whose OID the response carries).
 */
export class DirSyncControl extends Control {
  /** From the response: whether another search with `cookie` returns more. */
  moreData = false
  /** From the response: where the next search starts. */
  responseCookie: Buffer | undefined

  constructor(
    readonly cookie: Buffer = Buffer.alloc(0),
    readonly flags = 0,
    readonly maxAttributeCount = 0x7fffffff,
  ) {
    super(DIRSYNC_OID, { critical: true })
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter()
    value.startSequence()
    value.writeInt(this.flags)
    value.writeInt(this.maxAttributeCount)
    value.writeBuffer(this.cookie, Ber.OctetString)
    value.endSequence()
    writer.writeBuffer(value.buffer, Ber.OctetString)
  }

  protected override parseControl(reader: BerReader): void {
    if (!reader.readSequence()) return
    this.moreData = (reader.readInt() ?? 0) !== 0
    reader.readInt()
    this.responseCookie = reader.readString(Ber.OctetString, true) ?? Buffer.alloc(0)
  }
}
